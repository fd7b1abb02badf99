"""Payment methods (B1): recipients' saved cards as gateway tokens with brand, last four digits
and expiry; never a card number.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("token", sa.String(255), nullable=False),
        sa.Column("brand", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_payment_methods_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_methods"),
    )
    op.create_index("ix_payment_methods_account_id", "payment_methods", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_methods_account_id", table_name="payment_methods")
    op.drop_table("payment_methods")
