"""NTP time for RTCP: Unix ns both ways, the compact form, and the RFC 3550 round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commex.domain.errors import InvalidInput
from commex.stream.ntptime import (
    compact,
    compact_from_unix_ns,
    compact_units,
    ntp_from_unix_ns,
    round_trip_ms,
    round_trip_units,
    unix_ns_from_ntp,
)

S = 1_000_000_000
FIRST = -61_505_152 * S  # 1968-01-20T03:14:08Z, the first instant NTP era 0's top half holds
LAST = 4_233_462_144 * S - 1  # 2104-02-26T09:42:23Z, the last instant era 1's bottom half holds


def _unix_ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * S  # type: ignore[misc]


def test_known_instants() -> None:
    assert ntp_from_unix_ns(0) == 2_208_988_800 << 32
    assert ntp_from_unix_ns(S // 2) == (2_208_988_800 << 32) | 0x80000000
    # The sender report in aiortc's test data was sent on 2018-03-04 at 10:22:19.082 UTC.
    sent = unix_ns_from_ntp(16016567581311369308)
    assert datetime.fromtimestamp(sent // S, UTC) == datetime(2018, 3, 4, 10, 22, 19, tzinfo=UTC)
    assert compact(0xDE46475B_151A005C) == 0x475B151A


def test_the_2036_wrap_reads_forward() -> None:
    wrap = _unix_ns(2036, 2, 7, 6, 28, 16)
    assert ntp_from_unix_ns(wrap) == 0  # era 1 begins
    assert unix_ns_from_ntp(0) == wrap
    assert unix_ns_from_ntp(ntp_from_unix_ns(wrap + 5 * S)) == wrap + 5 * S


@given(st.integers(FIRST, LAST))
def test_unix_to_ntp_and_back_loses_under_a_nanosecond(unix_ns: int) -> None:
    ntp = ntp_from_unix_ns(unix_ns)
    assert 0 <= ntp < 1 << 64
    assert unix_ns_from_ntp(ntp) == unix_ns


@given(st.integers(0, (1 << 64) - 1))
def test_every_ntp_value_reads_as_a_time_that_writes_back(ntp: int) -> None:
    # The fraction has finer steps (233 ps) than a nanosecond, so it comes back within one.
    again = ntp_from_unix_ns(unix_ns_from_ntp(ntp))
    assert abs(again - ntp) <= 5


def test_times_ntp_cannot_carry_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        ntp_from_unix_ns(LAST + 1)
    assert caught.value.field == "unix_ns"
    with pytest.raises(InvalidInput):
        ntp_from_unix_ns(FIRST - 1)
    with pytest.raises(InvalidInput):
        unix_ns_from_ntp(1 << 64)


def test_round_trip_from_a_known_lsr_and_dlsr() -> None:
    # RFC 3550 6.4.1's own example: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000
    # (46853.125 s), DLSR = 0x0005:4000 (5.250 s): the round trip is 6.125 s.
    assert round_trip_units(0xB7108000, 0xB7052000, 0x00054000) == 0x00062000
    sent = _unix_ns(2030, 1, 1) + 250_000_000
    lsr = compact_from_unix_ns(sent)
    held = compact_units(40_000_000)  # the receiver held the report 40 ms
    rtt = round_trip_ms(sent + 40_000_000 + 12_000_000, lsr, held)
    assert rtt == pytest.approx(12.0, abs=0.05)  # within the 1/65536 s unit


def test_round_trip_needs_a_sender_report_and_a_sane_delay() -> None:
    assert round_trip_units(0x10000, 0, 0) is None  # no SR received yet
    assert round_trip_units(0x10000, 0x10000, 0x10000) is None  # DLSR longer than elapsed
    assert round_trip_units(0x10000, 0x10001, 1) == 0  # a rounding step below zero is zero
    assert round_trip_units(5, 0xFFFFFFFF, 1) == 5  # across the 16-bit seconds wrap


def test_compact_units_rounds_and_saturates() -> None:
    assert compact_units(S) == 65536
    assert compact_units(7_629) == 0 and compact_units(7_630) == 1  # 1/65536 s is 15.26 us
    assert compact_units(1 << 60) == 0xFFFFFFFF
    with pytest.raises(InvalidInput):
        compact_units(-1)
