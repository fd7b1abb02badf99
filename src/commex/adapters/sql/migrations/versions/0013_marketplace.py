"""The marketplace (O4): what auction search filters and sorts on, with its indexes; watchlists;
notification centres (and notices still being told to many bidders); webhooks with their
outbox of deliveries and the attempts' log.

Revision ID: 0013_marketplace
Revises: 0012_trust_and_safety
Create Date: 2026-12-01
"""

import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from commex.domain.money import currency_exponent
from commex.domain.time import parse_utc, to_micros

revision = "0013_marketplace"
down_revision = "0012_trust_and_safety"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{key}"], name=f"fk_{table}_{column}_{target}"
    )


def upgrade() -> None:
    _search_columns()
    op.create_table(
        "watches",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("auction_id", sa.String(40), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("reminded_us", sa.BigInteger(), nullable=True),
        _fk("watches", "account_id", "accounts"),
        _fk("watches", "auction_id", "auctions"),
        sa.PrimaryKeyConstraint("account_id", "auction_id", name="pk_watches"),
    )
    op.create_index("ix_watches_account_created", "watches", ["account_id", "created_us"])
    op.create_index("ix_watches_auction", "watches", ["auction_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("read_us", sa.BigInteger(), nullable=True),
        _fk("notifications", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index(
        "ix_notifications_account_created", "notifications", ["account_id", "created_us", "id"]
    )
    op.create_index("ix_notifications_account_read", "notifications", ["account_id", "read_us"])
    op.create_table(
        "notice_fanouts",
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("auction_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("exclude", sa.Text(), nullable=False),
        sa.Column("after_bidder", sa.String(40), nullable=True),
        _fk("notice_fanouts", "auction_id", "auctions"),
        sa.PrimaryKeyConstraint("event_id", name="pk_notice_fanouts"),
    )
    _webhook_tables()


def _search_columns() -> None:
    with op.batch_alter_table("auctions") as batch:
        batch.add_column(sa.Column("service", sa.String(32), nullable=False, server_default=""))
        for name in ("min_rate_bps", "max_rate_bps", "window_start_us", "window_end_us"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("list_price", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("title_key", sa.String(800), nullable=False, server_default=""))
    _fill_search_columns()
    op.create_index("ix_auctions_status_price", "auctions", ["status", "list_price", "id"])
    op.create_index("ix_auctions_service_status", "auctions", ["service", "status", "closes_us"])
    op.create_index("ix_auctions_closes", "auctions", ["closes_us", "id"])
    op.create_index("ix_auctions_created", "auctions", ["created_us", "id"])
    op.create_index("ix_auctions_price", "auctions", ["list_price", "id"])
    for name, columns in _KEYED.items():  # the id too: lists are read in (..., id) order
        op.drop_index(name, table_name="auctions")
        op.create_index(name, "auctions", columns)


# Earlier indexes that lists read in (..., id) order from once the id ends them, and what they
# were before (for the downgrade). The open lists' two also carry the small columns filters
# test, so a filtered page is picked out inside the index and only its rows are read.
_FILTERED = ["service", "direction", "format", "currency", "min_rate_bps"]
_KEYED = {
    "ix_auctions_status_closes": ["status", "closes_us", "id", *_FILTERED],
    "ix_auctions_status_created": ["status", "created_us", "id", *_FILTERED],
    "ix_auctions_owner_id": ["owner_id", "created_us", "id"],
}
_UNKEYED = {
    "ix_auctions_status_closes": ["status", "closes_us"],
    "ix_auctions_status_created": ["status", "created_us"],
    "ix_auctions_owner_id": ["owner_id"],
}


def _micros(text: str | None) -> int | None:
    return None if text is None else to_micros(parse_utc(text, "window"))


def _fill_search_columns() -> None:
    """The columns of auctions stored before search existed, from their terms and state."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, title, terms, format, direction, currency, price_minor, reserve_minor "
            "FROM auctions"
        )
    ).all()
    for r in rows:
        terms = json.loads(r.terms)
        minor = r.price_minor if r.format == "english" else None
        if minor is None and r.direction == "reverse":
            minor = r.reserve_minor
        price = None
        if minor is not None:  # thousandths of the currency, as commex.domain.finding keeps
            price = int(Decimal(minor).scaleb(3 - currency_exponent(r.currency)))
        conn.execute(
            sa.text(
                "UPDATE auctions SET service = :service, min_rate_bps = :min_rate, "
                "max_rate_bps = :max_rate, window_start_us = :ws, window_end_us = :we, "
                "list_price = :price, title_key = :title_key WHERE id = :id"
            ),
            {
                "id": r.id,
                "service": terms["service"],
                "min_rate": terms.get("min_rate_bps"),
                "max_rate": terms.get("max_rate_bps"),
                "ws": _micros(terms.get("window_start")),
                "we": _micros(terms.get("window_end")),
                "price": price,
                "title_key": r.title.casefold(),
            },
        )


def _webhook_tables() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("webhooks", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_account_id", "webhooks", ["account_id"])
    op.create_table(
        "webhook_events",
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        _fk("webhook_events", "webhook_id", "webhooks"),
        sa.PrimaryKeyConstraint("webhook_id", "type", name="pk_webhook_events"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger(), nullable=True),
        sa.Column("claimed_until_us", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("give_up_us", sa.BigInteger(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("delivered_us", sa.BigInteger(), nullable=True),
        _fk("webhook_deliveries", "webhook_id", "webhooks"),
        _fk("webhook_deliveries", "event_id", "notifications"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_us"]
    )
    op.create_index(
        "ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "created_us"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("delivery_id", SERIAL, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _fk("webhook_attempts", "delivery_id", "webhook_deliveries"),
        sa.PrimaryKeyConstraint("delivery_id", "number", name="pk_webhook_attempts"),
    )


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhooks"):
        op.drop_table(table)
    op.drop_table("notice_fanouts")
    op.drop_table("notifications")
    op.drop_table("watches")
    for index in (
        "ix_auctions_price",
        "ix_auctions_created",
        "ix_auctions_closes",
        "ix_auctions_service_status",
        "ix_auctions_status_price",
    ):
        op.drop_index(index, table_name="auctions")
    for name, columns in _UNKEYED.items():
        op.drop_index(name, table_name="auctions")
        op.create_index(name, "auctions", columns)
    with op.batch_alter_table("auctions") as batch:
        for name in (
            "title_key",
            "list_price",
            "window_end_us",
            "window_start_us",
            "max_rate_bps",
            "min_rate_bps",
            "service",
        ):
            batch.drop_column(name)
