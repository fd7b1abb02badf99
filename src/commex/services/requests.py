"""Wire input to domain drafts: one parser for the API, the pages and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from commex.domain.auctions import Direction, Eligibility, Format
from commex.domain.errors import InvalidInput
from commex.domain.money import Money, check_currency
from commex.domain.opening import AuctionDraft
from commex.domain.terms import parse_terms
from commex.domain.time import parse_utc

_AUCTION_KEYS = {
    "direction",
    "format",
    "title",
    "terms",
    "currency",
    "quantity",
    "reserve",
    "closes_at",
    "min_increment",
    "soft_close_s",
    "reputation_weight",
    "eligibility",
}
_ELIGIBILITY_KEYS = {"min_provider_score", "min_recipient_score", "approved_providers"}
MAX_ID = 64
_E = TypeVar("_E", Direction, Format)


def parse_auction_request(data: Mapping[str, Any]) -> AuctionDraft:
    """An :class:`AuctionDraft` from the body of ``POST /v1/auctions`` (SPEC section 8)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("the auction must be an object")
    unknown = set(data) - _AUCTION_KEYS
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    for key in ("direction", "format", "title", "terms", "currency", "closes_at"):
        if data.get(key) is None:
            raise InvalidInput(f"{key} is required", field=key)
    direction = _enum(Direction, data["direction"], "direction")
    fmt = _enum(Format, data["format"], "format")
    currency = check_currency(data["currency"])
    title = data["title"]
    if not isinstance(title, str):
        raise InvalidInput("title must be a string", field="title")
    return AuctionDraft(
        direction=direction,
        format=fmt,
        title=title,
        terms=parse_terms(data["terms"]),
        currency=currency,
        closes_at=parse_utc(data["closes_at"], "closes_at"),
        quantity=_or(data.get("quantity"), 1),
        reserve=_money(data.get("reserve"), currency, "reserve"),
        min_increment=_money(data.get("min_increment"), currency, "min_increment"),
        soft_close_s=_or(data.get("soft_close_s"), 0),
        reputation_weight=_weight(_or(data.get("reputation_weight"), "0")),
        eligibility=_eligibility(data.get("eligibility")),
    )


def _or(value: Any, default: Any) -> Any:
    """An optional field: JSON null means absent, as for every other optional field."""
    return default if value is None else value


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


def _eligibility(value: Any) -> Eligibility:
    if value is None:
        return Eligibility()
    if not isinstance(value, Mapping):
        raise InvalidInput("eligibility must be an object", field="eligibility")
    unknown = set(value) - _ELIGIBILITY_KEYS
    if unknown:
        raise InvalidInput(
            f"eligibility has unknown fields: {', '.join(sorted(unknown))}", "eligibility"
        )
    approved = value.get("approved_providers") or []
    if not isinstance(approved, list | tuple) or not all(
        isinstance(a, str) and 0 < len(a) <= MAX_ID for a in approved
    ):
        raise InvalidInput(
            "eligibility.approved_providers must be a list of account ids",
            "eligibility.approved_providers",
        )
    return Eligibility(
        min_provider_score=_score(value.get("min_provider_score"), "min_provider_score"),
        min_recipient_score=_score(value.get("min_recipient_score"), "min_recipient_score"),
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
