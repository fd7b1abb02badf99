"""Ratings and reputation: owners of accounts, contract start, devices, contract members,
ratings, and incremental reputation tallies (per account and role, and per counterparty).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(40), nullable=True))
        batch.create_index("ix_accounts_owner_id", ["owner_id"])
    with op.batch_alter_table("auctions") as batch:
        batch.add_column(sa.Column("owner_group", sa.String(40), nullable=True))
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("started_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("window_start_us", sa.BigInteger(), nullable=True))
        batch.create_index("ix_contracts_status_window", ["status", "window_start_us"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("recipient_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("phone_numbers", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["accounts.id"], name="fk_devices_recipient_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("token_hash", name="uq_devices_token_hash"),
    )
    op.create_index("ix_devices_recipient_id", "devices", ["recipient_id"])
    op.create_table(
        "contract_members",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_contract_members_contract_id_contracts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contract_members"),
        sa.UniqueConstraint("contract_id", "kind", "ref", name="uq_contract_members_ref"),
    )
    op.create_index("ix_contract_members_contract_id", "contract_members", ["contract_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("rated_id", sa.String(40), nullable=False),
        sa.Column("rated_role", sa.String(10), nullable=False),
        sa.Column("rater_key", sa.String(60), nullable=False),
        sa.Column("rater_account_id", sa.String(40), nullable=False),
        sa.Column("device_id", sa.String(40), nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_ratings_contract_id_contracts"
        ),
        sa.ForeignKeyConstraint(["rated_id"], ["accounts.id"], name="fk_ratings_rated_id_accounts"),
        sa.ForeignKeyConstraint(
            ["rater_account_id"], ["accounts.id"], name="fk_ratings_rater_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ratings"),
        sa.UniqueConstraint("contract_id", "rated_role", "rater_key", name="uq_ratings_once"),
    )
    op.create_index("ix_ratings_rated_recent", "ratings", ["rated_id", "rated_role", "created_us"])
    op.create_table(
        "reputations",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("positive", sa.Float(), nullable=False),
        sa.Column("negative", sa.Float(), nullable=False),
        sa.Column("as_of_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_reputations_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "role", name="pk_reputations"),
    )
    op.create_table(
        "reputation_pairs",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("counterparty", sa.String(40), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("as_of_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_reputation_pairs_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "role", "counterparty", name="pk_reputation_pairs"),
    )


def downgrade() -> None:
    for table in ("reputation_pairs", "reputations", "ratings", "contract_members", "devices"):
        op.drop_table(table)
    with op.batch_alter_table("contracts") as batch:
        batch.drop_index("ix_contracts_status_window")
        batch.drop_column("window_start_us")
        batch.drop_column("started_us")
    with op.batch_alter_table("auctions") as batch:
        batch.drop_column("owner_group")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_index("ix_accounts_owner_id")
        batch.drop_column("owner_id")
