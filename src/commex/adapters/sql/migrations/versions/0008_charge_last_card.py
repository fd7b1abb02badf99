"""Charges remember the card their last attempt tried and whether it failed at the gateway, so
a card saved or made the default since is tried at once, and a payer's "pay now" makes an
attempt only when it could end differently from the last.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("last_card_id", sa.String(40), nullable=True))
        batch.add_column(
            sa.Column("last_error", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("last_error")
        batch.drop_column("last_card_id")
