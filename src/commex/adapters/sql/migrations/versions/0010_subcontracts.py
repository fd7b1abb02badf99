"""Subcontracts are contracts between providers (S10): a contract has a kind and may name its
parent; a subcontract (made from an offer, not a bid) keeps its step, its work token's hash, its
packets metered per run and the outcome of the plane's check; providers' nodes authenticate
with keys the exchange issues to each provider (stored hashed, revocable).

Revision ID: 0010_subcontracts
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_subcontracts"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Making bid_id nullable rebuilds the table on SQLite (see commex.adapters.sql.migrate).
    with op.batch_alter_table("contracts") as batch:
        batch.alter_column("bid_id", existing_type=sa.String(40), nullable=True)
        batch.add_column(sa.Column("kind", sa.String(12), nullable=False, server_default="auction"))
        batch.add_column(sa.Column("parent_contract_id", sa.String(40), nullable=True))
        batch.create_index("ix_contracts_parent_contract_id", ["parent_contract_id"])
        batch.create_foreign_key(
            "fk_contracts_parent_contract_id_contracts", "contracts", ["parent_contract_id"], ["id"]
        )
    op.create_table(
        "subcontracts",
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("work_token_hash", sa.String(128), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.String(300), nullable=True),
        sa.Column("closed_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_subcontracts_contract_id_contracts"
        ),
        sa.PrimaryKeyConstraint("contract_id", name="pk_subcontracts"),
        sa.UniqueConstraint("work_token_hash", name="uq_subcontracts_work_token_hash"),
    )
    op.create_table(
        "subcontract_runs",
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["subcontracts.contract_id"],
            name="fk_subcontract_runs_contract_id_subcontracts",
        ),
        sa.PrimaryKeyConstraint("contract_id", "run_id", name="pk_subcontract_runs"),
    )
    op.create_table(
        "node_keys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("hint", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["accounts.id"], name="fk_node_keys_provider_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_node_keys"),
        sa.UniqueConstraint("key_hash", name="uq_node_keys_key_hash"),
    )
    op.create_index("ix_node_keys_provider_id", "node_keys", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_node_keys_provider_id", table_name="node_keys")
    op.drop_table("node_keys")
    op.drop_table("subcontract_runs")
    op.drop_table("subcontracts")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_constraint("fk_contracts_parent_contract_id_contracts", type_="foreignkey")
        batch.drop_index("ix_contracts_parent_contract_id")
        batch.drop_column("parent_contract_id")
        batch.drop_column("kind")
