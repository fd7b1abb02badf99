"""Subcontracts' and node keys' tables (S10, migration 0010_subcontracts), on the schema's one
metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table

from commex.adapters.sql.tables import metadata

subcontracts = Table(
    "subcontracts",
    metadata,
    Column("contract_id", String(40), ForeignKey("contracts.id"), primary_key=True),
    Column("step", String(40), nullable=False),
    Column("work_token_hash", String(128), nullable=False, unique=True),
    Column("packets", BigInteger, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("detail", String(300), nullable=True),
    Column("closed_us", BigInteger, nullable=True),
)

subcontract_runs = Table(
    "subcontract_runs",
    metadata,
    Column("contract_id", String(40), ForeignKey("subcontracts.contract_id"), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("packets", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

node_keys = Table(
    "node_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(80), nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("hint", String(12), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
)
