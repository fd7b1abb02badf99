"""Times are timezone-aware UTC at every edge; a time without an offset is refused."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from commex.domain.errors import InvalidInput
from commex.domain.time import from_micros, parse_utc, require_utc, to_micros


@pytest.mark.parametrize(
    "text",
    ["2026-01-31T12:00:00Z", "2026-01-31T12:00:00+00:00", "2026-01-31T14:00:00+02:00"],
)
def test_iso_times_with_an_offset_become_utc(text):
    moment = parse_utc(text, "closes_at")
    assert moment == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


def test_aware_datetimes_are_converted_to_utc():
    local = datetime(2026, 1, 31, 7, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_utc(local, "t") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert require_utc(local).tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-01-31T12:00:00", datetime(2026, 1, 31, 12)])
def test_a_time_without_offset_is_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as err:
        parse_utc(value, "closes_at")
    assert err.value.field == "closes_at"
    assert "offset" in err.value.message


@pytest.mark.parametrize("value", ["tomorrow", "", 1767225600, None, "2026-01-31T12:00:00Z" * 4])
def test_garbage_is_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as err:
        parse_utc(value, "terms.window_start")
    assert err.value.field == "terms.window_start"


def test_micros_round_trip_exactly():
    moment = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    micros = to_micros(moment)
    assert micros == 1772366400123456
    assert from_micros(micros) == moment
    assert to_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_to_micros_refuses_naive_time():
    with pytest.raises(InvalidInput):
        to_micros(datetime(2026, 3, 1))
