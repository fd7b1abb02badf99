"""UTC time at the edges: parse and check timezone-aware datetimes. The rules never read a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commex.domain.errors import InvalidInput


def parse_utc(value: object, field: str) -> datetime:
    """An aware datetime in UTC from an ISO 8601 string (or an aware datetime).

    A time without a UTC offset is refused: guessing a zone would move closes and windows.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(
                f"{field} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not {value!r}",
                field=field,
            ) from exc
    else:
        raise InvalidInput(f"{field} must be an ISO 8601 time string", field=field)
    return require_utc(moment, field)


def require_utc(moment: datetime, field: str = "time") -> datetime:
    """``moment`` converted to UTC; a naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{field} needs a UTC offset (e.g. 'Z')", field=field)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise InvalidInput(f"{field} is outside the calendar once in UTC", field=field) from exc


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exact (how the database stores time)."""
    delta = require_utc(moment) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The inverse of :func:`to_micros`."""
    return _EPOCH + timedelta(microseconds=micros)
