"""Groups and charges: groups of recipients, their members, sponsorships and auctions; the
charges of contracts and the providers' payouts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("split_rule", sa.String(16), nullable=False),
        sa.Column("creator_id", sa.String(40), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        _fk("groups", "creator_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("pledge_minor", sa.BigInteger(), nullable=True),
        sa.Column("invited_us", sa.BigInteger(), nullable=False),
        sa.Column("joined_us", sa.BigInteger(), nullable=True),
        _fk("group_members", "group_id", "groups"),
        _fk("group_members", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("group_id", "account_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_account", "group_members", ["account_id"])
    op.create_table(
        "group_sponsors",
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("sponsored_id", sa.String(40), nullable=False),
        _fk("group_sponsors", "group_id", "groups"),
        _fk("group_sponsors", "payer_id", "accounts"),
        _fk("group_sponsors", "sponsored_id", "accounts"),
        sa.PrimaryKeyConstraint("group_id", "payer_id", "sponsored_id", name="pk_group_sponsors"),
    )
    op.create_table(
        "group_auctions",
        sa.Column("auction_id", sa.String(40), nullable=False),
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        _fk("group_auctions", "auction_id", "auctions"),
        _fk("group_auctions", "group_id", "groups"),
        sa.PrimaryKeyConstraint("auction_id", name="pk_group_auctions"),
    )
    op.create_index("ix_group_auctions_group_id", "group_auctions", ["group_id"])
    op.create_table(
        "charges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("group_id", sa.String(40), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("declines", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger(), nullable=False),
        sa.Column("claimed_until_us", sa.BigInteger(), nullable=True),
        sa.Column("last_attempt_us", sa.BigInteger(), nullable=True),
        sa.Column("gateway_charge_id", sa.String(100), nullable=True),
        sa.Column("decline_code", sa.String(60), nullable=True),
        sa.Column("message", sa.String(300), nullable=True),
        sa.Column("retry_key", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        _fk("charges", "contract_id", "contracts"),
        _fk("charges", "payer_id", "accounts"),
        _fk("charges", "provider_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_charges"),
        sa.UniqueConstraint("contract_id", "payer_id", name="uq_charges_contract_payer"),
    )
    op.create_index("ix_charges_payer_id", "charges", ["payer_id"])
    op.create_index("ix_charges_status_next", "charges", ["status", "next_attempt_us"])
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        _fk("payouts", "charge_id", "charges"),
        _fk("payouts", "provider_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.UniqueConstraint("charge_id", name="uq_payouts_charge_id"),
    )
    op.create_index("ix_payouts_provider_id", "payouts", ["provider_id"])


def downgrade() -> None:
    for table in (
        "payouts",
        "charges",
        "group_auctions",
        "group_sponsors",
        "group_members",
        "groups",
    ):
        op.drop_table(table)
