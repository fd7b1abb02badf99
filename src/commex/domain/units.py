"""Rates and lengths of time as people write them: ``20 Mbit/s``, ``512 kbit/s``, ``500 min``,
``30 days``. Forms and the command line take these; the rules keep bit/s and seconds.

A bare number is taken in the base unit (bit/s, or seconds), so what programs always sent still
means what it meant. Decimals are allowed where the result is whole (``1.5 Mbit/s``), and a
value that is not whole in the base unit is refused rather than rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from commex.domain.errors import InvalidInput

_RATE_UNITS = {
    "": 1, "b": 1, "bps": 1, "bit/s": 1, "bits/s": 1,
    "k": 10**3, "kb": 10**3, "kbps": 10**3, "kbit/s": 10**3, "kbit": 10**3,
    "m": 10**6, "mb": 10**6, "mbps": 10**6, "mbit/s": 10**6, "mbit": 10**6,
    "g": 10**9, "gb": 10**9, "gbps": 10**9, "gbit/s": 10**9, "gbit": 10**9,
}  # fmt: skip
_TIME_UNITS = {
    "": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_AMOUNT = re.compile(r"^\s*(\d{1,15}(?:[.,]\d{1,9})?)\s*([A-Za-z/]*)\s*$")
MAX_TEXT = 40


def _split(text: object, field: str, example: str) -> tuple[Decimal, str]:
    usage = f"{field} must be a number with a unit, such as {example}"
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidInput(usage, field)
    found = _AMOUNT.match(text.replace("_", "").replace("\u202f", " "))
    if found is None:
        raise InvalidInput(usage, field)
    try:
        number = Decimal(found.group(1).replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise InvalidInput(usage, field) from None
    return number, found.group(2).lower()


def _whole(number: Decimal, scale: int, field: str, base: str) -> int:
    value = number * scale
    if value != value.to_integral_value():
        raise InvalidInput(f"{field} must come to a whole number of {base}", field)
    return int(value)


def parse_rate(text: object, field: str) -> int:
    """A data rate in bit/s from ``20 Mbit/s``, ``512 kbit/s``, ``1.5 Gbps`` or ``64000``."""
    number, unit = _split(text, field, "20 Mbit/s or 512 kbit/s")
    if unit not in _RATE_UNITS:
        raise InvalidInput(
            f"{field}: {unit!r} is not a rate unit (bit/s, kbit/s, Mbit/s, Gbit/s)", field
        )
    return _whole(number, _RATE_UNITS[unit], field, "bit/s")


def parse_duration(text: object, field: str) -> int:
    """A length of time in seconds from ``500 min``, ``30 days``, ``2 h``, ``90 s`` or ``90``."""
    number, unit = _split(text, field, "500 min or 30 days")
    if unit not in _TIME_UNITS:
        raise InvalidInput(
            f"{field}: {unit!r} is not a unit of time (s, min, h, days, weeks)", field
        )
    return _whole(number, _TIME_UNITS[unit], field, "seconds")
