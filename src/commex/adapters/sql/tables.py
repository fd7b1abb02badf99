"""The database schema (SQLAlchemy Core). Money is integer minor units; time is integer
microseconds since the Unix epoch, UTC, which both SQLite and PostgreSQL compare exactly."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("roles", String(64), nullable=False),
    Column("token_hash", String(128), nullable=True, unique=True),
    Column("created_us", BigInteger, nullable=False),
    Column("name_key", String(80), nullable=True, unique=True),
    Column("password_hash", String(256), nullable=True),
    Column("owner_id", String(40), nullable=True, index=True),
    # 0010: the name folded for uniqueness (NFKC, case, UTS #39 skeleton), and a suspension
    Column("name_fold", String(320), nullable=True, unique=True),
    Column("suspended_us", BigInteger, nullable=True),
    Column("suspension_reason", String(500), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(128), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("last_used_us", BigInteger, nullable=True),  # 0010: for the idle timeout
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("bid_id", String(40), ForeignKey("bids.id"), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

_FILTERED = ("service", "direction", "format", "currency", "min_rate_bps")

auctions = Table(
    "auctions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("format", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("terms", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("reserve_minor", BigInteger, nullable=True),
    Column("min_increment_minor", BigInteger, nullable=False),
    Column("soft_close_s", Integer, nullable=False),
    Column("reputation_weight", String(16), nullable=False),
    Column("eligibility", Text, nullable=False),
    Column("closes_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("bid_count", Integer, nullable=False),
    Column("bid_seq", Integer, nullable=False),
    Column("leader_id", String(40), nullable=True),
    Column("leader_bid_id", String(40), nullable=True),
    Column("price_minor", BigInteger, nullable=True),
    Column("limit_minor", BigInteger, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("cancel_reason", String(500), nullable=True),
    Column("owner_group", String(40), nullable=True),
    # 0013: what search filters and sorts on (see commex.domain.finding), kept with every write
    Column("service", String(32), nullable=False, server_default=""),
    Column("min_rate_bps", BigInteger, nullable=True),
    Column("max_rate_bps", BigInteger, nullable=True),
    Column("window_start_us", BigInteger, nullable=True),
    Column("window_end_us", BigInteger, nullable=True),
    Column("list_price", BigInteger, nullable=True),
    Column("title_key", String(800), nullable=False, server_default=""),
    # 0014: raised by every write to the row (see SqlAuctions.versions)
    Column("version", BigInteger, nullable=False, server_default="0"),
    # 0013: the id, so that lists read in (..., id) order straight from them, and the small
    # columns filters test, so that a filtered page is picked out inside the index
    Index("ix_auctions_status_closes", "status", "closes_us", "id", *_FILTERED),
    Index("ix_auctions_status_created", "status", "created_us", "id", *_FILTERED),
    Index("ix_auctions_owner_id", "owner_id", "created_us", "id"),
    Index("ix_auctions_status_price", "status", "list_price", "id"),
    Index("ix_auctions_service_status", "service", "status", "closes_us"),
    Index("ix_auctions_closes", "closes_us", "id"),
    Index("ix_auctions_created", "created_us", "id"),
    Index("ix_auctions_price", "list_price", "id"),
)

bids = Table(
    "bids",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("auction_id", String(40), ForeignKey("auctions.id"), nullable=False),
    Column("bidder_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("max_minor", BigInteger, nullable=True),
    Column("seq", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("proxy", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("auction_id", "seq", name="uq_bids_auction_seq"),
    Index("ix_bids_auction_bidder", "auction_id", "bidder_id"),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("auction_id", String(40), ForeignKey("auctions.id"), nullable=False, index=True),
    Column("bid_id", String(40), ForeignKey("bids.id"), nullable=True, unique=True),  # 0010
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("recipient_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("terms", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("started_us", BigInteger, nullable=True),
    Column("window_start_us", BigInteger, nullable=True),
    Column("used_ms", BigInteger, nullable=False, server_default="0"),
    # 0011: the end of its window (for completing it), and how and when it ended
    Column("window_end_us", BigInteger, nullable=True),
    Column("ended_us", BigInteger, nullable=True),
    Column("end_reason", String(20), nullable=True),
    Column("end_note", String(500), nullable=True),
    Column("ended_by", String(40), nullable=True),
    Column("kind", String(12), nullable=False, server_default="auction"),  # 0010
    Column("parent_contract_id", String(40), ForeignKey("contracts.id"), nullable=True, index=True),
    Index("ix_contracts_status_window", "status", "window_start_us"),
    Index("ix_contracts_status_window_end", "status", "window_end_us"),
)

processing_offers = Table(
    "processing_offers",
    metadata,
    Column("provider_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("node_url", String(200), nullable=False),
    Column("capabilities", String(600), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("recipient_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(80), nullable=False),
    Column("user_name", String(80), nullable=False),
    Column("phone_numbers", Text, nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),  # 0010: deregistered, its token dead
)

contract_members = Table(
    "contract_members",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("contract_id", String(40), ForeignKey("contracts.id"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("ref", String(40), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("removed_us", BigInteger, nullable=True),
    UniqueConstraint("contract_id", "kind", "ref", name="uq_contract_members_ref"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("contract_id", String(40), ForeignKey("contracts.id"), nullable=False),
    Column("rated_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("rated_role", String(10), nullable=False),
    Column("rater_key", String(60), nullable=False),
    Column("rater_account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("device_id", String(40), nullable=True),
    Column("satisfied", Boolean, nullable=False),
    Column("score", Integer, nullable=True),
    Column("comment", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("weight", Float, nullable=True),  # 0010: the weight it carried (NULL before: 1.0)
    Column("worth", Float, nullable=True),  # 0010: its weight before the cap (NULL before: 1.0)
    Column("hidden_us", BigInteger, nullable=True),  # 0010: hidden by the operator
    Column("hidden_reason", String(500), nullable=True),
    UniqueConstraint("contract_id", "rated_role", "rater_key", name="uq_ratings_once"),
    Index("ix_ratings_rated_recent", "rated_id", "rated_role", "created_us"),
)

reputations = Table(
    "reputations",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(10), primary_key=True),
    Column("positive", Float, nullable=False),
    Column("negative", Float, nullable=False),
    Column("as_of_us", BigInteger, nullable=False),
)

reputation_pairs = Table(
    "reputation_pairs",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(10), primary_key=True),
    Column("counterparty", String(40), primary_key=True),
    Column("weight", Float, nullable=False),
    Column("as_of_us", BigInteger, nullable=False),
)

usage_sessions = Table(
    "usage_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("contract_id", String(40), ForeignKey("contracts.id"), nullable=False, index=True),
    Column("member_id", String(40), ForeignKey("contract_members.id"), nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
    Column("used_ms", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Index("ix_usage_sessions_member", "member_id", "ended_us"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("contract_id", String(40), ForeignKey("contracts.id"), nullable=False),
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("reported_ms", BigInteger, nullable=False),
    Column("accepted_ms", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("packets", BigInteger, nullable=False),
    Column("achieved_bps", BigInteger, nullable=False),
    Column("min_rate_bps", BigInteger, nullable=True),
    Column("breach", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    # What the receivers reported over RTCP (S9); rx_streams is null when they did not.
    Column("rx_streams", Integer, nullable=True),
    Column("rx_fraction_lost_ppm", Integer, nullable=True),
    Column("rx_cumulative_lost", BigInteger, nullable=True),
    Column("rx_jitter_us", BigInteger, nullable=True),
    Column("rx_round_trip_us", BigInteger, nullable=True),
    UniqueConstraint("contract_id", "run_id", name="uq_deliveries_run"),
    Index("ix_deliveries_provider_recent", "provider_id", "created_us"),
)

capacities = Table(
    "capacities",
    metadata,
    Column("provider_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("capacity_bps", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

# -- payment methods (B1): gateway tokens, never card numbers ------------------------------------

payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("gateway", String(16), nullable=False),
    Column("token", String(255), nullable=False),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

# -- groups and charges (G1-G3, B2) ------------------------------------------------------------

groups = Table(
    "groups",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("split_rule", String(16), nullable=False),
    Column("creator_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(40), ForeignKey("groups.id"), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("state", String(12), nullable=False),
    Column("pledge_minor", BigInteger, nullable=True),
    Column("invited_us", BigInteger, nullable=False),
    Column("joined_us", BigInteger, nullable=True),
    Index("ix_group_members_account", "account_id"),
)

group_sponsors = Table(
    "group_sponsors",
    metadata,
    Column("group_id", String(40), ForeignKey("groups.id"), primary_key=True),
    Column("payer_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("sponsored_id", String(40), ForeignKey("accounts.id"), primary_key=True),
)

group_auctions = Table(
    "group_auctions",
    metadata,
    Column("auction_id", String(40), ForeignKey("auctions.id"), primary_key=True),
    Column("group_id", String(40), ForeignKey("groups.id"), nullable=False, index=True),
    Column("created_us", BigInteger, nullable=False),
    Column("settled", Boolean, nullable=False),
)

charges = Table(
    "charges",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("contract_id", String(40), ForeignKey("contracts.id"), nullable=False),
    Column("payer_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("group_id", String(40), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("declines", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("claimed_until_us", BigInteger, nullable=True),
    Column("last_attempt_us", BigInteger, nullable=True),
    Column("gateway_charge_id", String(100), nullable=True),
    Column("decline_code", String(60), nullable=True),
    Column("message", String(300), nullable=True),
    Column("retry_key", String(128), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_card_id", String(40), nullable=True),  # 0008
    Column("last_error", Boolean, nullable=False, server_default=false()),  # 0008
    UniqueConstraint("contract_id", "payer_id", name="uq_charges_contract_payer"),
    Index("ix_charges_status_next", "status", "next_attempt_us"),
)

payouts = Table(
    "payouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("charge_id", String(40), ForeignKey("charges.id"), nullable=False, unique=True),
    Column("provider_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

# The tables of subcontracts, of the audit trail, of trust and safety and of the marketplace
# (watchlists, notifications, webhooks) are in modules of their own, on this metadata (imported
# here so that the metadata is the whole schema wherever read).
import commex.adapters.sql.audit_tables  # noqa: E402
import commex.adapters.sql.market_tables  # noqa: E402
import commex.adapters.sql.subcontract_tables  # noqa: E402
import commex.adapters.sql.trust_tables  # noqa: E402, F401
