"""T1: service terms are validated, and every refusal names its field."""

from datetime import UTC, datetime

import pytest

from commex.domain.errors import InvalidInput
from commex.domain.terms import parse_terms, stored_terms

BASE = {"service": "voice", "duration_s": 3600}


def refused(**changes):
    data = {**BASE, **changes}
    data = {k: v for k, v in data.items() if v is not ...}
    with pytest.raises(InvalidInput) as err:
        parse_terms(data)
    return err.value


def test_full_terms_parse_and_write_back():
    terms = parse_terms(
        {
            "service": "stream-processing",
            "duration_s": 600,
            "window_start": "2026-04-01T00:00:00Z",
            "window_end": "2026-04-02T02:00:00+02:00",
            "min_rate_bps": 64000,
            "max_rate_bps": 128000,
            "max_members": 5,
            "steps": ["transcode:pcmu", "dtmf", "gain:-6"],
        }
    )
    assert terms.window_start == datetime(2026, 4, 1, tzinfo=UTC)
    assert terms.window_end == datetime(2026, 4, 2, tzinfo=UTC)
    assert terms.steps == ("transcode:pcmu", "dtmf", "gain:-6")
    wire = terms.to_dict()
    assert wire["window_end"] == "2026-04-02T00:00:00+00:00"
    assert wire["steps"] == ["transcode:pcmu", "dtmf", "gain:-6"]
    assert parse_terms(wire) == terms


def test_minimal_terms_default_to_one_member_and_no_window():
    terms = parse_terms(BASE)
    assert terms.max_members == 1
    assert terms.to_dict() == {"service": "voice", "duration_s": 3600, "max_members": 1}


@pytest.mark.parametrize("service", ["Voice", "", "voice call", "9voice", 42, None])
def test_service_kind_must_be_a_lower_case_word(service):
    err = refused(service=service)
    assert err.field in ("terms.service", "terms")


@pytest.mark.parametrize("duration", [0, -1, 10 * 365 * 86400 + 1, 60.0, "3600", True])
def test_duration_bounds_and_type(duration):
    assert refused(duration_s=duration).field == "terms.duration_s"


def test_duration_at_the_bounds_is_accepted():
    assert parse_terms({**BASE, "duration_s": 1}).duration_s == 1
    assert parse_terms({**BASE, "duration_s": 10 * 365 * 86400}).duration_s == 10 * 365 * 86400


def test_min_rate_above_max_rate_is_refused():
    err = refused(min_rate_bps=2_000_000, max_rate_bps=1_000_000)
    assert err.field == "terms.min_rate_bps"
    assert "2000000" in err.message
    assert parse_terms({**BASE, "min_rate_bps": 1000, "max_rate_bps": 1000}).min_rate_bps == 1000


@pytest.mark.parametrize("name", ["min_rate_bps", "max_rate_bps"])
@pytest.mark.parametrize("value", [0, -5, 10**12 + 1, 1.5])
def test_rates_are_positive_whole_bits_per_second(name, value):
    assert refused(**{name: value}).field == f"terms.{name}"


@pytest.mark.parametrize("value", [0, 10_001, "3"])
def test_max_members_bounds(value):
    assert refused(max_members=value).field == "terms.max_members"


def test_window_must_end_after_it_starts():
    err = refused(window_start="2026-04-02T00:00:00Z", window_end="2026-04-01T00:00:00Z")
    assert err.field == "terms.window_end"
    err = refused(window_start="2026-04-01T00:00:00Z", window_end="2026-04-01T00:00:00Z")
    assert err.field == "terms.window_end"


def test_window_ends_go_together():
    assert refused(window_start="2026-04-01T00:00:00Z").field == "terms.window_end"
    assert refused(window_end="2026-04-01T00:00:00Z").field == "terms.window_end"


def test_window_times_need_a_utc_offset():
    err = refused(window_start="2026-04-01T00:00:00", window_end="2026-04-02T00:00:00Z")
    assert err.field == "terms.window_start"
    assert refused(window_start="yesterday", window_end="2026-04-02T00:00:00Z").field == (
        "terms.window_start"
    )


def test_steps_only_for_stream_processing():
    err = refused(steps=["transcode:pcmu"])
    assert err.field == "terms.steps"
    assert "stream-processing" in err.message


@pytest.mark.parametrize("steps", ["transcode:pcmu", [""], ["Transcode"], ["a b"], [5]])
def test_malformed_steps_are_refused(steps):
    assert refused(service="stream-processing", steps=steps).field == "terms.steps"


def test_too_many_steps_are_refused():
    assert refused(service="stream-processing", steps=["vad"] * 17).field == "terms.steps"


def test_unknown_fields_are_refused_by_name():
    err = refused(colour="blue")
    assert err.field == "terms"
    assert "colour" in err.message


@pytest.mark.parametrize("missing", ["service", "duration_s"])
def test_service_and_duration_are_required(missing):
    assert refused(**{missing: ...}).field == "terms"


def test_terms_must_be_an_object():
    with pytest.raises(InvalidInput) as err:
        parse_terms(["voice", 3600])  # type: ignore[arg-type]
    assert err.value.field == "terms"


@pytest.mark.parametrize(
    "data",
    [
        {"service": "voice", "duration_s": 3600},
        {
            "service": "data",
            "duration_s": 86400,
            "window_start": "2026-12-01T00:00:00+00:00",
            "window_end": "2026-12-31T00:00:00+00:00",
            "min_rate_bps": 20_000_000,
            "max_rate_bps": 100_000_000,
            "max_members": 8,
        },
        {"service": "stream-processing", "duration_s": 60, "steps": ["transcode:pcmu", "dtmf"]},
    ],
)
def test_terms_read_back_as_stored_equal_the_terms_that_were_written(
    data: dict[str, object],
) -> None:
    written = parse_terms(data)
    read = stored_terms(written.to_dict())
    assert read == written
    assert read.to_dict() == written.to_dict()
    assert read.window_start is None or read.window_start.utcoffset() is not None
