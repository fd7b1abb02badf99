"""Blocks of time in use: members can be removed (and their usage kept), metered usage
sessions with an atomic per-contract counter, the packet plane's deliveries with their measured
rate and breaches, and providers' declared capacity.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("used_ms", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("contract_members") as batch:
        batch.add_column(sa.Column("removed_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "usage_sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("member_id", sa.String(40), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("used_ms", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_usage_sessions_contract_id_contracts"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["contract_members.id"],
            name="fk_usage_sessions_member_id_contract_members",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_usage_sessions"),
    )
    op.create_index("ix_usage_sessions_contract_id", "usage_sessions", ["contract_id"])
    op.create_index("ix_usage_sessions_member", "usage_sessions", ["member_id", "ended_us"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("reported_ms", sa.BigInteger(), nullable=False),
        sa.Column("accepted_ms", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("achieved_bps", sa.BigInteger(), nullable=False),
        sa.Column("min_rate_bps", sa.BigInteger(), nullable=True),
        sa.Column("breach", sa.Boolean(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_deliveries_contract_id_contracts"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["accounts.id"], name="fk_deliveries_provider_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("contract_id", "run_id", name="uq_deliveries_run"),
    )
    op.create_index("ix_deliveries_provider_recent", "deliveries", ["provider_id", "created_us"])
    op.create_table(
        "capacities",
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("capacity_bps", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["accounts.id"], name="fk_capacities_provider_id_accounts"
        ),
        sa.PrimaryKeyConstraint("provider_id", name="pk_capacities"),
    )


def downgrade() -> None:
    op.drop_table("capacities")
    op.drop_index("ix_deliveries_provider_recent", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_usage_sessions_member", table_name="usage_sessions")
    op.drop_index("ix_usage_sessions_contract_id", table_name="usage_sessions")
    op.drop_table("usage_sessions")
    with op.batch_alter_table("contract_members") as batch:
        batch.drop_column("removed_us")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("used_ms")
