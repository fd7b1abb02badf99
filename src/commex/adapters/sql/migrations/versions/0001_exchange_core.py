"""Exchange core: accounts, auctions, bids, contracts.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("token_hash", name="uq_accounts_token_hash"),
    )
    op.create_table(
        "auctions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner_id", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reserve_minor", sa.BigInteger(), nullable=True),
        sa.Column("min_increment_minor", sa.BigInteger(), nullable=False),
        sa.Column("soft_close_s", sa.Integer(), nullable=False),
        sa.Column("reputation_weight", sa.String(16), nullable=False),
        sa.Column("eligibility", sa.Text(), nullable=False),
        sa.Column("closes_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("bid_seq", sa.Integer(), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=True),
        sa.Column("leader_bid_id", sa.String(40), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=True),
        sa.Column("limit_minor", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name="fk_auctions_owner_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_auctions"),
    )
    op.create_index("ix_auctions_owner_id", "auctions", ["owner_id"])
    op.create_index("ix_auctions_status_closes", "auctions", ["status", "closes_us"])
    op.create_index("ix_auctions_status_created", "auctions", ["status", "created_us"])
    op.create_table(
        "bids",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("auction_id", sa.String(40), nullable=False),
        sa.Column("bidder_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("max_minor", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("proxy", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name="fk_bids_auction_id_auctions"
        ),
        sa.ForeignKeyConstraint(["bidder_id"], ["accounts.id"], name="fk_bids_bidder_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_bids"),
        sa.UniqueConstraint("auction_id", "seq", name="uq_bids_auction_seq"),
    )
    op.create_index("ix_bids_auction_bidder", "bids", ["auction_id", "bidder_id"])
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("auction_id", sa.String(40), nullable=False),
        sa.Column("bid_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("recipient_id", sa.String(40), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name="fk_contracts_auction_id_auctions"
        ),
        sa.ForeignKeyConstraint(["bid_id"], ["bids.id"], name="fk_contracts_bid_id_bids"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["accounts.id"], name="fk_contracts_provider_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["accounts.id"], name="fk_contracts_recipient_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contracts"),
        sa.UniqueConstraint("bid_id", name="uq_contracts_bid_id"),
    )
    op.create_index("ix_contracts_auction_id", "contracts", ["auction_id"])
    op.create_index("ix_contracts_provider_id", "contracts", ["provider_id"])
    op.create_index("ix_contracts_recipient_id", "contracts", ["recipient_id"])


def downgrade() -> None:
    op.drop_table("contracts")
    op.drop_table("bids")
    op.drop_table("auctions")
    op.drop_table("accounts")
