"""What the receiving side of a delivery measured itself (S9), from its RTCP receiver reports.

The packet plane sends RTCP sender reports and reads the far end's receiver reports; it passes
the figures on with its delivery, so a breach of the minimum rate can rest on what the
recipient's side saw, not only on the provider's own schedule. Figures are kept exact: the
fraction lost in parts per million, jitter and round trip in microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from commex.domain.errors import InvalidInput

PPM = 1_000_000
MAX_STREAMS = 1_000_000
MAX_LOST = 10**12
MAX_MS = 3_600_000  # an hour: no jitter or round trip beyond that is a measurement
FIELDS = ("streams", "fraction_lost", "cumulative_lost", "jitter_ms", "round_trip_ms")


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """Over ``streams`` reported streams: the worst fraction lost in one report interval (in
    parts per million), the packets lost in all, the highest interarrival jitter and the
    highest round trip (from LSR/DLSR; None when no report carried one)."""

    streams: int
    fraction_lost_ppm: int
    cumulative_lost: int
    jitter_us: int
    round_trip_us: int | None

    def received_rate_bps(self, sent_bps: int) -> int:
        """The rate the receiver got of ``sent_bps`` in its worst interval (rounded down)."""
        return sent_bps * (PPM - self.fraction_lost_ppm) // PPM

    def to_dict(self) -> dict[str, int | float | None]:
        trip = self.round_trip_us
        return {
            "streams": self.streams,
            "fraction_lost": self.fraction_lost_ppm / PPM,
            "cumulative_lost": self.cumulative_lost,
            "jitter_ms": self.jitter_us / 1000,
            "round_trip_ms": None if trip is None else trip / 1000,
        }


def receiver_report(value: object) -> ReceiverReport | None:
    """The receiver's figures from the wire (``{"streams", "fraction_lost",
    "cumulative_lost", "jitter_ms", "round_trip_ms"?}``), or None when none were given; a
    missing, unknown or out-of-range figure is an error naming ``receiver.<figure>``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("receiver must be an object of the receiver's figures", "receiver")
    unknown = sorted(str(k) for k in value if k not in FIELDS)
    if unknown:
        raise InvalidInput(f"receiver has no figure {unknown[0]!r}", f"receiver.{unknown[0]}")
    trip = value.get("round_trip_ms")
    return ReceiverReport(
        streams=_whole(value.get("streams"), "streams", 1, MAX_STREAMS),
        fraction_lost_ppm=_scaled(value.get("fraction_lost"), "fraction_lost", PPM, 1),
        cumulative_lost=_whole(value.get("cumulative_lost"), "cumulative_lost", 0, MAX_LOST),
        jitter_us=_scaled(value.get("jitter_ms"), "jitter_ms", 1000, MAX_MS),
        round_trip_us=None if trip is None else _scaled(trip, "round_trip_ms", 1000, MAX_MS),
    )


def _whole(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        field = f"receiver.{name}"
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}", field)
    return value


def _scaled(value: object, name: str, scale: int, high: int) -> int:
    """A number from 0 to ``high`` as a whole count of 1/``scale`` units (rounded)."""
    field = f"receiver.{name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number from 0 to {high}", field)
    exact = Decimal(str(value))  # exact for an int, the shortest decimal for a float
    if not exact.is_finite() or not 0 <= exact <= high:
        raise InvalidInput(f"{field} must be a number from 0 to {high}", field)
    return int((exact * scale).to_integral_value(ROUND_HALF_EVEN))
