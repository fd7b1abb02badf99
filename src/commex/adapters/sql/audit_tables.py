"""The audit trail's tables (migration 0011_audit_trail), on the schema's one metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from commex.adapters.sql.tables import metadata

# The audit trail (0011): appended in the transaction of each change, never updated or deleted
# (triggers refuse both). ``seq`` orders it. The accounts an entry concerns are its actor (when
# ``actor_concerned``) and its rows in ``audit_accounts``, so a bid, which concerns only its
# bidder, is one row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor_id", String(40), nullable=True),
    Column("actor_concerned", Boolean, nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("request_id", String(128), nullable=True, index=True),
    Column("reason", Text, nullable=True),
    Column("detail", Text, nullable=True),  # JSON: short facts, never a secret
    Index("ix_audit_log_subject_seq", "subject_id", "seq"),
    Index("ix_audit_log_actor_seq", "actor_id", "seq"),
)

audit_accounts = Table(
    "audit_accounts",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("seq", BigInteger, ForeignKey("audit_log.seq"), primary_key=True),
    Column("position", Integer, nullable=False),
)
