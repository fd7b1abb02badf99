"""An :class:`~commex.services.commands.OpenAuction` as a domain draft: one parser for what the
API, the pages, the command line and library users ask for. Every problem names its field."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from commex.domain.auctions import Direction, Eligibility, Format
from commex.domain.errors import InvalidInput
from commex.domain.money import Money, check_currency
from commex.domain.opening import AuctionDraft
from commex.domain.terms import ServiceTerms, parse_terms
from commex.domain.time import parse_utc
from commex.services import commands as c

MAX_ID = 64
_E = TypeVar("_E", Direction, Format)


def draft_of(cmd: c.OpenAuction) -> AuctionDraft:
    """The draft of the auction ``cmd`` asks for (``None`` means absent for every optional
    field, as JSON null does)."""
    for name in ("direction", "format", "title", "terms", "currency", "closes_at"):
        if getattr(cmd, name) is None:
            raise InvalidInput(f"{name} is required", field=name)
    currency = check_currency(cmd.currency)
    if not isinstance(cmd.title, str):
        raise InvalidInput("title must be a string", field="title")
    return AuctionDraft(
        direction=_enum(Direction, cmd.direction, "direction"),
        format=_enum(Format, cmd.format, "format"),
        title=cmd.title,
        terms=terms_of(cmd.terms),
        currency=currency,
        closes_at=parse_utc(cmd.closes_at, "closes_at"),
        quantity=1 if cmd.quantity is None else cmd.quantity,
        reserve=_money(cmd.reserve, currency, "reserve"),
        min_increment=_money(cmd.min_increment, currency, "min_increment"),
        soft_close_s=0 if cmd.soft_close_s is None else cmd.soft_close_s,
        reputation_weight=_weight("0" if cmd.reputation_weight is None else cmd.reputation_weight),
        eligibility=_eligibility(cmd.eligibility),
    )


def terms_of(terms: c.Terms) -> ServiceTerms:
    """Service terms from what was asked, checked by the domain's one parser."""
    if not isinstance(terms, c.Terms):
        raise InvalidInput("terms must be an object", field="terms")
    return parse_terms(
        {
            "service": terms.service,
            "duration_s": terms.duration_s,
            "window_start": terms.window_start,
            "window_end": terms.window_end,
            "min_rate_bps": terms.min_rate_bps,
            "max_rate_bps": terms.max_rate_bps,
            "max_members": terms.max_members,
            "steps": list(terms.steps),
        }
    )


def parse_amount(value: Any, currency: str, field: str = "amount") -> Money:
    """A bid amount in the auction's currency."""
    return Money.parse(value, currency, field=field)


def _enum(cls: type[_E], value: Any, field: str) -> _E:
    try:
        return cls(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidInput(f"{field} must be one of {allowed}; got {value!r}", field) from exc


def _money(value: Any, currency: str, field: str) -> Money | None:
    return None if value is None else Money.parse(value, currency, field=field)


def _weight(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidInput("reputation_weight must be a number from 0 to 1", "reputation_weight")
    try:
        # A weight is a ranking knob, not money: a JSON number is fine, read through its text.
        weight = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput("reputation_weight must be a number", "reputation_weight") from exc
    if not weight.is_finite() or not Decimal(0) <= weight <= Decimal(1):
        raise InvalidInput("reputation_weight must be between 0 and 1", "reputation_weight")
    return weight.quantize(Decimal("0.0001"))


def _eligibility(value: c.Eligibility | None) -> Eligibility:
    if value is None:
        return Eligibility()
    if not isinstance(value, c.Eligibility):
        raise InvalidInput("eligibility must be an object", field="eligibility")
    approved = value.approved_providers or ()
    if not isinstance(approved, list | tuple) or not all(
        isinstance(a, str) and 0 < len(a) <= MAX_ID for a in approved
    ):
        raise InvalidInput(
            "eligibility.approved_providers must be a list of account ids",
            "eligibility.approved_providers",
        )
    return Eligibility(
        min_provider_score=_score(value.min_provider_score, "min_provider_score"),
        min_recipient_score=_score(value.min_recipient_score, "min_recipient_score"),
        approved_providers=frozenset(approved),
    )


def _score(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(
            f"eligibility.{name} must be a number from 0 to 1", f"eligibility.{name}"
        )
    try:
        score = float(value)
    except ValueError as exc:
        raise InvalidInput(f"eligibility.{name} must be a number", f"eligibility.{name}") from exc
    if not 0.0 <= score <= 1.0:
        raise InvalidInput(f"eligibility.{name} must be between 0 and 1", f"eligibility.{name}")
    return score
