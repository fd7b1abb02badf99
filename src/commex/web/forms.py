"""HTML forms to service requests: the create-auction form becomes the same request the API
takes (``POST /v1/auctions``), so one parser and one set of rules check both.

A form only says what the person typed; blank optional fields are left out, and numbers that
are not numbers are refused naming their field. Every other check is the services'.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from commex.domain.errors import InvalidInput

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_FIELD = 1000

# An error's field (as the services name it) -> the form input it belongs next to.
_INPUT_OF = {"closes_at": "closes_in", "terms.duration_s": "duration"}

AUCTION_DEFAULTS = {
    "direction": "forward",
    "format": "english",
    "terms.service": "voice",
    "duration": "1000",
    "duration_unit": "minutes",
    "closes_in": "1",
    "closes_in_unit": "hours",
    "currency": "EUR",
    "quantity": "1",
    "terms.max_members": "1",
    "soft_close_s": "0",
    "reputation_weight": "0",
}

_TEXT = ("title", "direction", "format", "currency")
_MONEY = ("reserve", "min_increment")


def input_of(field: str | None) -> str:
    """The form input an error names, or "" for an error about the whole form."""
    if not field:
        return ""
    return _INPUT_OF.get(field, field)


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The submitted text fields, trimmed and bounded, to fill the form in again."""
    return {k: v.strip()[:MAX_FIELD] for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def auction_request(values: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The ``POST /v1/auctions`` request for a submitted create-auction form."""
    request: dict[str, Any] = {k: values.get(k, "") for k in _TEXT}
    request["currency"] = request["currency"].upper()
    for name in _MONEY:
        if values.get(name):
            request[name] = values[name]
    for name in ("quantity", "soft_close_s"):
        number = _int(values, name)
        if number is not None:
            request[name] = number
    if values.get("reputation_weight"):
        request["reputation_weight"] = values["reputation_weight"]
    terms: dict[str, Any] = {"service": values.get("terms.service", "")}
    length = _int(values, "duration")
    if length is None:
        raise InvalidInput("the block of usage needs a length", field="duration")
    terms["duration_s"] = length * _unit(values, "duration_unit")
    for name in ("min_rate_bps", "max_rate_bps", "max_members"):
        number = _int(values, f"terms.{name}")
        if number is not None:
            terms[name] = number
    steps = [s.strip() for s in values.get("terms.steps", "").split(",") if s.strip()]
    if steps:
        terms["steps"] = steps
    request["terms"] = terms
    closes_in = _int(values, "closes_in")
    if closes_in is None or closes_in <= 0:
        raise InvalidInput("say when the auction closes: a number more than zero", "closes_in")
    try:
        request["closes_at"] = now + timedelta(seconds=closes_in * _unit(values, "closes_in_unit"))
    except OverflowError as exc:  # beyond the calendar: the services' own limit says more
        raise InvalidInput("that is too far away for an auction to close", "closes_in") from exc
    return request


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
MEMBER_INPUTS = ("device_id", "phone_number", "account_id")


class RatingAnswer(TypedDict):
    satisfied: object
    score: object
    comment: object


def rating_answer(satisfied: str, score: str, comment: str) -> RatingAnswer:
    """The arguments of a rating from its form: "yes"/"no" become true/false and a picked score
    a number; anything else goes on as typed, for the services to refuse naming the field."""
    picked = score.strip()
    return {
        "satisfied": _ANSWERS.get(satisfied, satisfied or None),
        "score": int(picked) if picked.isdigit() and len(picked) <= 3 else (picked or None),
        "comment": comment or None,
    }


def member_choice(values: Mapping[str, str]) -> dict[str, str | None]:
    """Whom the recipient shares a contract with: the inputs filled in (the services insist on
    exactly one)."""
    return {name: values.get(name, "").strip() or None for name in MEMBER_INPUTS}


def phone_list(text: str) -> list[str]:
    """Telephone numbers typed with commas (or new lines) between them."""
    return [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]
