"""Auctions carry a version, raised by every write to the row, so that a bid desk that keeps
an open auction's bidding state between its batches can tell, with one small locked read,
whether anything (another process's bids, a close, a cancel, a withdrawal) changed it since.

Revision ID: 0014_auction_version
Revises: 0013_marketplace
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_auction_version"
down_revision = "0013_marketplace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auctions") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("auctions") as batch:
        batch.drop_column("version")
