"""S7: what a run delivered, in the units a contract's block is metered in.

A stream's media duration is the span of its packets' own times (first to last) plus its
usual packet interval (the median gap), which the last packet also lasts: 50 packets 20 ms
apart are 1.0 s. A run's stream-seconds are the sum over its streams. :class:`Delivery` is one
report to the exchange; :class:`IntervalMeter` cuts a live run into such reports every
``every_s`` stream-seconds, so a long stream is metered while it runs. Sending the reports is
the caller's business (the plane never talks to the exchange itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from commex.stream.packets import PacketBatch
from commex.stream.rtcpsession import ReceiverFigures
from commex.stream.rtp import rtp_sizes
from commex.stream.shaping import Shaper
from commex.stream.types import I64

DEFAULT_EVERY_S = 10.0
# The exchange's bounds on a receiver's figures (its delivery API refuses beyond them).
MAX_LOST = 10**12
MAX_FIGURE_MS = 3_600_000.0


def _span_and_gap(times_us: I64) -> tuple[int, int, float]:
    """First and last time of one stream's packets and their median gap (µs)."""
    ordered = np.sort(times_us)
    gap = float(np.median(np.diff(ordered))) if ordered.shape[0] > 1 else 0.0
    return int(ordered[0]), int(ordered[-1]), gap


def stream_durations(batch: PacketBatch) -> dict[int, float]:
    """Each stream's media duration in seconds, by stream id (see the module notes)."""
    out: dict[int, float] = {}
    for s in np.unique(batch.stream):
        first, last, gap = _span_and_gap(batch.arrival_us[batch.stream == s])
        out[int(s)] = (last - first + gap) / 1e6
    return out


def stream_seconds(batch: PacketBatch) -> float:
    """The sum over the streams of ``batch`` of each one's media duration, in seconds."""
    return sum(stream_durations(batch).values())


@dataclass(frozen=True, slots=True)
class ReceiverSummary:
    """What the receivers of a delivery measured themselves (S9), from their RTCP receiver
    reports: over ``streams`` reported streams, the worst fraction lost in a report
    interval, the packets lost in all, and the highest jitter and round trip."""

    streams: int
    fraction_lost: float
    cumulative_lost: int
    jitter_ms: float
    round_trip_ms: float | None

    @classmethod
    def of(cls, figures: Iterable[ReceiverFigures | None]) -> ReceiverSummary | None:
        """The summary of the streams whose receivers reported; None when none did."""
        known = [f for f in figures if f is not None and f.reports]
        if not known:
            return None
        trips = [f.round_trip.max_ms for f in known if f.round_trip is not None]
        return cls(
            streams=len(known),
            fraction_lost=max(f.max_fraction_lost or 0.0 for f in known),
            cumulative_lost=sum(f.cumulative_lost or 0 for f in known),
            jitter_ms=max(f.max_jitter_ms or 0.0 for f in known),
            round_trip_ms=max(trips) if trips else None,
        )

    def to_json(self) -> dict[str, object]:
        """The delivery's ``receiver`` object, each figure held within what the exchange takes
        (a far end's report may claim anything: a signed loss, a jitter of hours), so what it
        claims never costs the delivery its record."""
        trip = self.round_trip_ms
        return {
            "streams": self.streams,
            "fraction_lost": round(min(max(self.fraction_lost, 0.0), 1.0), 4),
            "cumulative_lost": min(max(self.cumulative_lost, 0), MAX_LOST),
            "jitter_ms": round(min(max(self.jitter_ms, 0.0), MAX_FIGURE_MS), 3),
            "round_trip_ms": None if trip is None else round(min(max(trip, 0.0), MAX_FIGURE_MS), 3),
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One report of delivered service: the body of ``POST /v1/contracts/{id}/deliveries``
    without its run id; ``receiver`` is what the far end measured, when it said."""

    seconds: float
    bytes: int
    packets: int
    achieved_rate_bps: int
    receiver: ReceiverSummary | None = None

    def body(self, run_id: str) -> dict[str, object]:
        """The JSON body, under ``run_id`` (the exchange counts one run id once)."""
        body: dict[str, object] = {
            "run_id": run_id,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "packets": self.packets,
            "achieved_rate_bps": self.achieved_rate_bps,
        }
        if self.receiver is not None:
            body["receiver"] = self.receiver.to_json()
        return body


@dataclass
class _Stream:
    first: int
    last: int
    gap: float

    def seconds(self) -> float:
        return (self.last - self.first + self.gap) / 1e6


@dataclass
class IntervalMeter:
    """Collects processed packets and hands ``emit`` a :class:`Delivery` each time at least
    ``every_s`` new stream-seconds have gone through (or on :meth:`flush`); :meth:`rest` is what
    remains at the end.

    Batches may come in any order (pool workers finish out of order) and cut a stream anywhere:
    a stream's duration is the span of everything seen of it, so the silences between pieces
    count and a piece seen twice does not. An interval's achieved rate is that of its own packets,
    in time order, through a bucket of ``rate_bps`` (none: their own times).
    """

    emit: Callable[[Delivery], None]
    every_s: float = DEFAULT_EVERY_S
    rate_bps: int | None = None
    reported: Delivery = field(default_factory=lambda: Delivery(0.0, 0, 0, 0))
    _streams: dict[object, _Stream] = field(default_factory=dict)
    _times: list[I64] = field(default_factory=list)
    _sizes: list[I64] = field(default_factory=list)

    def seconds(self) -> float:
        """Stream-seconds seen so far."""
        return sum(s.seconds() for s in self._streams.values())

    def add(self, batch: PacketBatch) -> None:
        """Count ``batch``; emit a delivery if an interval is complete."""
        if not len(batch):
            return
        for s in np.unique(batch.stream):
            key: object = batch.streams[s] if s < len(batch.streams) else int(s)
            first, last, gap = _span_and_gap(batch.arrival_us[batch.stream == s])
            known = self._streams.get(key)
            if known is None:
                self._streams[key] = _Stream(first, last, gap)
            else:
                known.first, known.last = min(known.first, first), max(known.last, last)
        self._times.append(batch.arrival_us)
        self._sizes.append(rtp_sizes(batch))
        if self.seconds() - self.reported.seconds >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Emit what came through since the last delivery now, if anything did."""
        if not self._times:
            return
        times, sizes = np.concatenate(self._times), np.concatenate(self._sizes)
        order = np.argsort(times, kind="stable")
        rate = Shaper(self.rate_bps).schedule(times[order], sizes[order]).achieved_rate_bps()
        part = Delivery(
            max(0.0, self.seconds() - self.reported.seconds),
            int(sizes.sum()),
            int(sizes.shape[0]),
            rate,
        )
        self._times, self._sizes = [], []
        self.reported = _plus(self.reported, part)
        self.emit(part)

    def rest(self, total: Delivery) -> Delivery:
        """What ``total`` (the whole run as sent) adds to the deliveries emitted so far."""
        return Delivery(
            max(0.0, total.seconds - self.reported.seconds),
            max(0, total.bytes - self.reported.bytes),
            max(0, total.packets - self.reported.packets),
            total.achieved_rate_bps,
        )


def _plus(a: Delivery, b: Delivery) -> Delivery:
    return Delivery(
        a.seconds + b.seconds, a.bytes + b.bytes, a.packets + b.packets, b.achieved_rate_bps
    )
