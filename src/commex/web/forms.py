"""HTML forms to commands: the create-auction form becomes the same OpenAuction command the API
builds from ``POST /v1/auctions``, so one parser and one set of rules check both.

A form only says what the person typed; blank optional fields are left out, and numbers that
are not numbers are refused naming their field. Every other check is the services'.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from commex.domain.errors import InvalidInput
from commex.domain.units import parse_duration, parse_rate
from commex.services.commands import AddMember, OpenAuction, Rate, Terms

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_FIELD = 1000

# An error's field (as the services name it) -> the form input it belongs next to.
_INPUT_OF = {"closes_at": "closes_in", "terms.duration_s": "duration"}

AUCTION_DEFAULTS = {
    "direction": "forward",
    "format": "english",
    "terms.service": "voice",
    "duration": "1000 min",
    "closes_in": "1",
    "closes_in_unit": "hours",
    "currency": "EUR",
    "quantity": "1",
    "terms.max_members": "1",
    "soft_close_s": "0",
    "reputation_weight": "0",
}


def input_of(field: str | None) -> str:
    """The form input an error names, or "" for an error about the whole form."""
    if not field:
        return ""
    return _INPUT_OF.get(field, field)


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The submitted text fields, trimmed and bounded, to fill the form in again."""
    return {k: v.strip()[:MAX_FIELD] for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def auction_command(values: Mapping[str, str], owner_id: str, now: datetime) -> OpenAuction:
    """The OpenAuction command of a submitted create-auction form."""
    steps = [s.strip() for s in values.get("terms.steps", "").split(",") if s.strip()]
    terms = Terms(
        service=values.get("terms.service", ""),
        duration_s=_block(values),
        min_rate_bps=_rate(values, "terms.min_rate_bps"),
        max_rate_bps=_rate(values, "terms.max_rate_bps"),
        max_members=_int(values, "terms.max_members"),
        steps=tuple(steps),
    )
    closes_in = _int(values, "closes_in")
    if closes_in is None or closes_in <= 0:
        raise InvalidInput("say when the auction closes: a number more than zero", "closes_in")
    try:
        closes_at = now + timedelta(seconds=closes_in * _unit(values, "closes_in_unit"))
    except OverflowError as exc:  # beyond the calendar: the services' own limit says more
        raise InvalidInput("that is too far away for an auction to close", "closes_in") from exc
    return OpenAuction(
        owner_id=owner_id,
        direction=values.get("direction", ""),
        format=values.get("format", ""),
        title=values.get("title", ""),
        terms=terms,
        currency=values.get("currency", "").upper(),
        closes_at=closes_at,
        quantity=_int(values, "quantity"),
        reserve=values.get("reserve") or None,
        min_increment=values.get("min_increment") or None,
        soft_close_s=_int(values, "soft_close_s"),
        reputation_weight=values.get("reputation_weight") or None,
    )


def _block(values: Mapping[str, str]) -> int:
    """The block's length in seconds: ``500 min``, ``30 days`` (or a number with a separate
    unit, as older forms sent)."""
    raw = values.get("duration", "").strip()
    if not raw:
        raise InvalidInput("the block of usage needs a length, such as 500 min", field="duration")
    if values.get("duration_unit") and raw.replace(",", "").isdigit():
        return (_int(values, "duration") or 0) * _unit(values, "duration_unit")
    return parse_duration(raw, "duration")


def _rate(values: Mapping[str, str], name: str) -> int | None:
    """A rate typed as ``20 Mbit/s`` or ``512 kbit/s`` (a bare number is bit/s)."""
    raw = values.get(name, "").strip()
    return parse_rate(raw, name) if raw else None


def _int(values: Mapping[str, str], name: str) -> int | None:
    raw = values.get(name, "").replace(",", "").replace("_", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise InvalidInput("must be a whole number", field=name)
    return int(raw)


def _unit(values: Mapping[str, str], name: str) -> int:
    unit = values.get(name, "minutes")
    if unit not in UNITS:
        raise InvalidInput(f"unit must be one of {', '.join(UNITS)}", field=name)
    return UNITS[unit]


# -- ratings, members and devices ---------------------------------------------------------------

_ANSWERS = {"yes": True, "no": False}
MEMBER_INPUTS = ("device_id", "phone_number", "account_id", "account_name")


def rating_command(
    contract_id: str, account_id: str, satisfied: str, score: str, comment: str
) -> Rate:
    """The Rate command of a rating form: "yes"/"no" become true/false and a picked score a
    number; anything else goes on as typed, for the services to refuse naming the field."""
    picked = score.strip()
    return Rate(
        contract_id,
        _ANSWERS.get(satisfied, satisfied or None),
        int(picked) if picked.isdigit() and len(picked) <= 3 else (picked or None),
        comment or None,
        account_id=account_id,
    )


def member_command(contract_id: str, caller_id: str, chosen: Mapping[str, str | None]) -> AddMember:
    """The AddMember command of the add-member form (the services insist on exactly one)."""
    if chosen.get("account_name") and not chosen.get("account_id"):
        raise InvalidInput("type the name of a recipient account", "account_name")
    return AddMember(
        contract_id,
        caller_id,
        device_id=chosen.get("device_id"),
        account_id=chosen.get("account_id"),
        phone_number=chosen.get("phone_number"),
    )


def member_choice(values: Mapping[str, str]) -> dict[str, str | None]:
    """Whom the recipient shares a contract with: the inputs filled in (the services insist on
    exactly one)."""
    return {name: values.get(name, "").strip() or None for name in MEMBER_INPUTS}


def phone_list(text: str) -> list[str]:
    """Telephone numbers typed with commas (or new lines) between them."""
    return [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]
