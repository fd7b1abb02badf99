"""Trust and safety: every account name is unique under Unicode folding (its folded key,
backfilled for the accounts already there), accounts can be suspended, devices deregistered
and ratings hidden, each with what the operator said; a rating keeps the weight it carried;
refunds are recorded beside their charges (by the operator, or by the exchange when a
group's contract is cancelled); a contract keeps how and when it ended (a subcontract closed
before this version ended when the plane's check closed it), and the end of its window;
failed logins, signups and card saves are counted per key so every server process throttles
alike.

Revision ID: 0012_trust_and_safety
Revises: 0011_audit_trail
Create Date: 2026-12-03
"""

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from commex.domain.time import to_micros
from commex.services.names import name_key

revision = "0012_trust_and_safety"
down_revision = "0011_audit_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("name_fold", sa.String(320), nullable=True))
        batch.add_column(sa.Column("suspended_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("suspension_reason", sa.String(500), nullable=True))
        batch.create_unique_constraint("uq_accounts_name_fold", ["name_fold"])
    _backfill_name_folds()
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("revoked_us", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("weight", sa.Float(), nullable=True))
        batch.add_column(sa.Column("worth", sa.Float(), nullable=True))
        batch.add_column(sa.Column("hidden_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hidden_reason", sa.String(500), nullable=True))
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("charge_id", sa.String(40), sa.ForeignKey("charges.id"), nullable=False),
        sa.Column("provider_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("gateway_refund_id", sa.String(100), nullable=True),
        sa.Column("by_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_refunds_charge_id", "refunds", ["charge_id"])
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("window_end_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("ended_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.String(20), nullable=True))
        batch.add_column(sa.Column("end_note", sa.String(500), nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(40), nullable=True))
        batch.create_index("ix_contracts_status_window_end", ["status", "window_end_us"])
    _backfill_window_ends()
    _backfill_subcontract_ends()
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("last_used_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("by_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_password_resets_account_id", "password_resets", ["account_id"])
    op.create_table(
        "throttles",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_us", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until_us", sa.BigInteger(), nullable=False),
    )


def _backfill_name_folds() -> None:
    """Fold the names already stored; of names that fold alike the oldest keeps the key (the
    others stay as they were, but no new account can take their name)."""
    conn = op.get_bind()
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_us", sa.BigInteger),
        sa.column("name_fold", sa.String),
    )
    rows = conn.execute(
        sa.select(accounts.c.id, accounts.c.name).order_by(accounts.c.created_us, accounts.c.id)
    ).all()
    taken: set[str] = set()
    for account_id, name in rows:
        key = name_key(name)
        if key in taken:
            continue
        taken.add(key)
        conn.execute(sa.update(accounts).where(accounts.c.id == account_id).values(name_fold=key))


def _backfill_window_ends() -> None:
    """The end of each stored contract's window, from its terms, so the scheduler can complete
    the contracts whose window ended before this version."""
    conn = op.get_bind()
    contracts = sa.table(
        "contracts",
        sa.column("id", sa.String),
        sa.column("terms", sa.Text),
        sa.column("window_end_us", sa.BigInteger),
    )
    for contract_id, terms in conn.execute(sa.select(contracts.c.id, contracts.c.terms)).all():
        end = json.loads(terms).get("window_end")
        if end is not None:
            micros = to_micros(datetime.fromisoformat(end))
            q = sa.update(contracts).where(contracts.c.id == contract_id)
            conn.execute(q.values(window_end_us=micros))


def _backfill_subcontract_ends() -> None:
    """A subcontract the plane's check closed before this version ended then, completed."""
    conn = op.get_bind()
    contracts = sa.table(
        "contracts",
        sa.column("id", sa.String),
        sa.column("ended_us", sa.BigInteger),
        sa.column("end_reason", sa.String),
    )
    subs = sa.table("subcontracts", sa.column("contract_id", sa.String), sa.column("closed_us"))
    closed = sa.select(subs.c.contract_id, subs.c.closed_us).where(subs.c.closed_us.is_not(None))
    for contract_id, closed_us in conn.execute(closed).all():
        q = sa.update(contracts).where(contracts.c.id == contract_id)
        conn.execute(q.values(ended_us=closed_us, end_reason="checked"))


def downgrade() -> None:
    op.drop_table("throttles")
    op.drop_index("ix_password_resets_account_id", "password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("last_used_us")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_index("ix_contracts_status_window_end")
        for column in ("ended_by", "end_note", "end_reason", "ended_us", "window_end_us"):
            batch.drop_column(column)
    op.drop_index("ix_refunds_charge_id", "refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("hidden_reason")
        batch.drop_column("hidden_us")
        batch.drop_column("worth")
        batch.drop_column("weight")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("revoked_us")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("uq_accounts_name_fold", type_="unique")
        batch.drop_column("suspension_reason")
        batch.drop_column("suspended_us")
        batch.drop_column("name_fold")
