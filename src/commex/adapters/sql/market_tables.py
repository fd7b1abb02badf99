"""The marketplace's tables: watchlists, notification centres (and notices still being told to
an auction's many bidders), webhooks, their outbox of
deliveries and its attempts (migration 0013). Same conventions as :mod:`tables`: integer minor
units and microseconds since the epoch, UTC."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from commex.adapters.sql.tables import metadata

# SQLite numbers rows itself only for an INTEGER PRIMARY KEY.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")

watches = Table(
    "watches",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("auction_id", String(40), ForeignKey("auctions.id"), primary_key=True),
    Column("created_us", BigInteger, nullable=False),
    Column("reminded_us", BigInteger, nullable=True),
    Index("ix_watches_account_created", "account_id", "created_us"),
    Index("ix_watches_auction", "auction_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("subject_id", String(40), nullable=False),
    Column("data", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("read_us", BigInteger, nullable=True),
    Index("ix_notifications_account_created", "account_id", "created_us", "id"),
    Index("ix_notifications_account_read", "account_id", "read_us"),
)

# A notice still to be told to the rest of an auction's bidders, a chunk at a time.
notice_fanouts = Table(
    "notice_fanouts",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("auction_id", String(40), ForeignKey("auctions.id"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("subject_id", String(40), nullable=False),
    Column("data", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("exclude", Text, nullable=False),
    Column("after_bidder", String(40), nullable=True),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("webhook_id", String(40), ForeignKey("webhooks.id"), primary_key=True),
    Column("type", String(32), primary_key=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("webhook_id", String(40), ForeignKey("webhooks.id"), nullable=False),
    Column("event_id", String(100), ForeignKey("notifications.id"), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=True),
    Column("claimed_until_us", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("give_up_us", BigInteger, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("delivered_us", BigInteger, nullable=True),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_us"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "created_us"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", SERIAL, ForeignKey("webhook_deliveries.id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("at_us", BigInteger, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(300), nullable=True),
    Column("duration_ms", Integer, nullable=False),
)
