"""Trust and safety's tables (migration 0012_trust_and_safety), on the schema's one metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from commex.adapters.sql.tables import metadata

refunds = Table(  # a refund is a negative payout of its charge
    "refunds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("charge_id", String(40), ForeignKey("charges.id"), nullable=False, index=True),
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("gateway_refund_id", String(100), nullable=True),
    Column("by_id", String(40), ForeignKey("accounts.id"), nullable=True),  # None: the exchange
    Column("created_us", BigInteger, nullable=False),
)

throttles = Table(  # failures counted per key (a login name, a client address, an account)
    "throttles",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_us", BigInteger, nullable=False),
    Column("blocked_until_us", BigInteger, nullable=False),
)

password_resets = Table(  # one-time links the operator issues; only the token's hash is kept
    "password_resets",
    metadata,
    Column("token_hash", String(128), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("by_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("used_us", BigInteger, nullable=True),
)
