"""Opening an auction: what the owner asks for (a draft) and the rules it must meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Direction, Eligibility, Format
from commex.domain.errors import Forbidden, InvalidInput
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms

MAX_TITLE = 200
MAX_QUANTITY = 1000
MAX_OPEN_DAYS = 366
MAX_SOFT_CLOSE_S = 3600
MAX_APPROVED = 500


@dataclass(frozen=True, slots=True)
class AuctionDraft:
    """What the owner asks for; validated by :func:`open_auction`."""

    direction: Direction
    format: Format
    title: str
    terms: ServiceTerms
    currency: str
    closes_at: datetime
    quantity: int = 1
    reserve: Money | None = None
    min_increment: Money | None = None
    soft_close_s: int = 0
    reputation_weight: Decimal = Decimal(0)
    eligibility: Eligibility = field(default_factory=Eligibility)


def open_auction(draft: AuctionDraft, auction_id: str, owner: Account, now: datetime) -> Auction:
    """Validate ``draft`` and open the auction; each problem names its field."""
    d = draft
    role = Role.PROVIDER if d.direction is Direction.FORWARD else Role.RECIPIENT
    if not owner.has(role):
        raise Forbidden(f"a {d.direction} auction is opened by a {role}; you are not one")
    title = d.title.strip() if isinstance(d.title, str) else ""
    if not title or len(title) > MAX_TITLE or not title.isprintable():
        raise InvalidInput(f"title must be 1 to {MAX_TITLE} printable characters", field="title")
    if d.closes_at <= now:
        raise InvalidInput("closes_at must be in the future", field="closes_at")
    if d.closes_at > now + timedelta(days=MAX_OPEN_DAYS):
        raise InvalidInput(f"closes_at must be within {MAX_OPEN_DAYS} days", field="closes_at")
    if d.terms.window_end is not None and d.terms.window_end <= d.closes_at:
        raise InvalidInput(
            "terms.window_end must be after the auction closes", field="terms.window_end"
        )
    if isinstance(d.quantity, bool) or not isinstance(d.quantity, int):
        raise InvalidInput("quantity must be a whole number", field="quantity")
    if not 1 <= d.quantity <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be between 1 and {MAX_QUANTITY}", field="quantity")
    if d.quantity > 1 and d.direction is Direction.REVERSE:
        raise InvalidInput("a reverse auction buys one service: quantity must be 1", "quantity")
    if d.quantity > 1 and d.format is Format.ENGLISH:
        raise InvalidInput(
            "english auctions sell one block; use a sealed format for several", field="quantity"
        )
    _positive(d.reserve, d.currency, "reserve")
    increment = d.min_increment or Money.from_minor(1, d.currency)
    _positive(increment, d.currency, "min_increment")
    if isinstance(d.soft_close_s, bool) or not isinstance(d.soft_close_s, int):
        raise InvalidInput("soft_close_s must be a whole number of seconds", field="soft_close_s")
    if not 0 <= d.soft_close_s <= MAX_SOFT_CLOSE_S:
        raise InvalidInput(f"soft_close_s must be 0 to {MAX_SOFT_CLOSE_S}", field="soft_close_s")
    if d.soft_close_s and d.format is not Format.ENGLISH:
        raise InvalidInput("a soft close applies to english auctions only", field="soft_close_s")
    _check_weight(d)
    _check_eligibility(d)
    return Auction(
        id=auction_id,
        owner_id=owner.id,
        direction=d.direction,
        format=d.format,
        title=title,
        terms=d.terms,
        currency=d.currency,
        quantity=d.quantity,
        reserve=d.reserve,
        min_increment=increment,
        soft_close_s=d.soft_close_s,
        reputation_weight=d.reputation_weight,
        eligibility=d.eligibility,
        closes_at=d.closes_at,
        created_at=now,
        owner_group=owner.owner,
    )


def _positive(value: Money | None, currency: str, name: str) -> None:
    if value is None:
        return
    if value.currency != currency:
        raise InvalidInput(f"{name} must be in {currency}", field=name)
    if value.amount <= 0:
        raise InvalidInput(f"{name} must be more than zero", field=name)


def _check_weight(d: AuctionDraft) -> None:
    w = d.reputation_weight
    if not isinstance(w, Decimal) or not w.is_finite() or not Decimal(0) <= w <= Decimal(1):
        raise InvalidInput("reputation_weight must be between 0 and 1", "reputation_weight")
    if w and d.direction is Direction.FORWARD:
        raise InvalidInput(
            "reputation_weight ranks providers' bids: reverse auctions only", "reputation_weight"
        )
    if w and d.format is Format.ENGLISH:
        raise InvalidInput(
            "reputation_weight needs a sealed format (first-price or second-price)",
            "reputation_weight",
        )


def _check_eligibility(d: AuctionDraft) -> None:
    e = d.eligibility
    for name in ("min_provider_score", "min_recipient_score"):
        value = getattr(e, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidInput(f"eligibility.{name} must be between 0 and 1", f"eligibility.{name}")
    reverse_only = e.min_provider_score is not None or e.approved_providers
    if d.direction is Direction.FORWARD and reverse_only:
        raise InvalidInput(
            "provider eligibility applies to reverse auctions, where providers bid",
            field="eligibility",
        )
    if d.direction is Direction.REVERSE and e.min_recipient_score is not None:
        raise InvalidInput(
            "recipient eligibility applies to forward auctions, where recipients bid",
            field="eligibility.min_recipient_score",
        )
    if len(e.approved_providers) > MAX_APPROVED:
        raise InvalidInput(
            f"at most {MAX_APPROVED} approved providers", field="eligibility.approved_providers"
        )
