"""NTP time as RTCP uses it (RFC 3550 4 and 6.4.1), from and to Unix time in nanoseconds.

A sender report carries the 64-bit NTP time it was sent at (seconds since 1900 and a 32-bit
fraction); a receiver echoes its middle 32 bits (16.16 fixed point, the "compact" form) as LSR
with the delay since in 1/65536 s as DLSR, and the sender gets the round trip as
``A - LSR - DLSR`` where A is the compact time the report arrived. The wall clock is always
passed in, never read here.

The 32-bit seconds wrap in 2036; as RFC 4330 3 suggests, a value with the high bit clear is
read as after 2036, so times from 1968 to 2104 convert both ways.
"""

from __future__ import annotations

from commex.domain.errors import InvalidInput

NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
_NS = 1_000_000_000
_ERA = 1 << 32
_LOW_S = (1 << 31) - NTP_UNIX_OFFSET_S  # 1968-01-20: the first second read back as era 0
_HIGH_S = _ERA + (1 << 31) - NTP_UNIX_OFFSET_S  # 2104-02-26: the end of era 1's half
COMPACT_HZ = 65536  # the compact form's unit: LSR, DLSR and round trips are in 1/65536 s
# A and LSR are each truncated to the unit and DLSR rounded by the receiver, so a round trip
# shorter than a few units can come out a little negative: that much is read as zero.
_ROUNDING_UNITS = 3


def ntp_from_unix_ns(unix_ns: int) -> int:
    """The 64-bit NTP timestamp of a Unix time in nanoseconds.

    The fraction is rounded up, so :func:`unix_ns_from_ntp` (which rounds down) gives the
    same nanosecond back.
    """
    seconds, ns = divmod(unix_ns, _NS)
    if not _LOW_S <= seconds < _HIGH_S:
        raise InvalidInput(
            f"a time of {unix_ns} ns since 1970 is outside what NTP time can carry (1968 to 2104)",
            "unix_ns",
        )
    return ((seconds + NTP_UNIX_OFFSET_S) % _ERA) << 32 | -(-(ns << 32) // _NS)


def unix_ns_from_ntp(ntp: int) -> int:
    """The Unix time in nanoseconds of a 64-bit NTP timestamp (rounded down to the ns)."""
    if not 0 <= ntp < 1 << 64:
        raise InvalidInput(f"an NTP timestamp has 64 bits, got {ntp}", "ntp_timestamp")
    seconds, fraction = ntp >> 32, ntp & 0xFFFFFFFF
    if seconds < 1 << 31:  # era 1: on or after 2036-02-07
        seconds += _ERA
    return (seconds - NTP_UNIX_OFFSET_S) * _NS + (fraction * _NS >> 32)


def compact(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp: what LSR echoes."""
    return ntp >> 16 & 0xFFFFFFFF


def compact_from_unix_ns(unix_ns: int) -> int:
    """The compact NTP time (16.16 seconds) of a Unix time in nanoseconds."""
    return compact(ntp_from_unix_ns(unix_ns))


def compact_units(duration_ns: int) -> int:
    """A duration in 1/65536 s (as DLSR carries it), rounded, kept within 32 bits."""
    if duration_ns < 0:
        raise InvalidInput(f"a delay cannot be negative, got {duration_ns} ns", "dlsr")
    return min((duration_ns * COMPACT_HZ + _NS // 2) // _NS, 0xFFFFFFFF)


def round_trip_units(arrival_compact: int, lsr: int, dlsr: int) -> int | None:
    """RFC 3550 6.4.1's round trip ``A - LSR - DLSR`` in 1/65536 s, modulo 2**32.

    None when LSR is 0 (the receiver has had no sender report yet) or when the result is
    clearly negative, which means the far end's DLSR does not fit our clock.
    """
    if lsr == 0:
        return None
    units = (arrival_compact - lsr - dlsr) % _ERA
    if units >= 1 << 31:  # negative
        return 0 if units >= _ERA - _ROUNDING_UNITS else None
    return units


def round_trip_ms(arrival_unix_ns: int, lsr: int, dlsr: int) -> float | None:
    """The round trip in milliseconds from an RR block that arrived at ``arrival_unix_ns``."""
    units = round_trip_units(compact_from_unix_ns(arrival_unix_ns), lsr, dlsr)
    return None if units is None else units * 1000 / COMPACT_HZ
