"""Processing offers: providers' nodes, their capabilities and prices, for subcontracting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processing_offers",
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("node_url", sa.String(200), nullable=False),
        sa.Column("capabilities", sa.String(600), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["accounts.id"], name="fk_processing_offers_provider_id_accounts"
        ),
        sa.PrimaryKeyConstraint("provider_id", name="pk_processing_offers"),
    )


def downgrade() -> None:
    op.drop_table("processing_offers")
