"""Per-stream figures of what left, kept as the run goes.

:class:`OutStats` counts what left per stream: packets, bytes, payload types, the media
duration (the span of the packets' times plus their usual interval, see
:mod:`commex.stream.metering`), and on live output each packet's added latency, in a
histogram per stream so that memory does not grow with a call. The per-stream figures are
worked out for many batches at once, when asked for or every few thousand packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from commex.stream.grouping import Groups
from commex.stream.packets import I64, PacketBatch
from commex.stream.report import Latency
from commex.stream.rtp import rtp_sizes
from commex.stream.streamstats import FOLD_ROWS, UNSET, Columns, counts_into, mode_of
from commex.stream.types import Bools

GAPS = 2048  # inter-packet gaps kept per stream for its usual packet interval

# Latency bins (µs): 0.1 ms wide up to 100 ms, then 4% wide up to about 100 s.
_EDGES = np.concatenate(
    [np.arange(0, 100_000, 100), np.unique(np.geomspace(100_000, 1e8, 180).astype(np.int64))]
).astype(np.int64)
BINS = int(_EDGES.shape[0])


class _OutColumns(Columns):
    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {
        "packets": ("i8", 0, ()),
        "bytes": ("i8", 0, ()),
        "first": ("i8", -UNSET, ()),
        "last": ("i8", UNSET, ()),
        "gaps": ("i4", 0, (GAPS,)),
        "ngaps": ("i8", 0, ()),
        "pts": ("i8", 0, (128,)),
        "late": ("i8", 0, ()),
        "lat_max": ("i8", 0, ()),
    }
    packets: I64
    bytes: I64
    first: I64
    last: I64
    gaps: npt.NDArray[np.int32]
    ngaps: I64
    pts: I64
    late: I64
    lat_max: I64


class _LatencyColumns(_OutColumns):
    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {
        **_OutColumns.SPEC,
        "hist": ("i4", 0, (BINS,)),
    }
    hist: npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class OutFigures:
    """What left of one stream so far: packets, bytes, payload type, media duration, and
    on live output the late packets and the added latency."""

    packets: int
    bytes: int
    payload_type: int | None
    duration_s: float
    late: int
    latency: Latency | None


def latency_of(histogram: np.ndarray, maximum: int) -> Latency | None:
    """p50, p99 and max of a latency histogram (each percentile the top of its bin, never
    more than the exact maximum)."""
    total = int(histogram.sum())
    if not total:
        return None
    cumulative = np.cumsum(histogram)
    tops = np.append(_EDGES[1:], _EDGES[-1])

    def pct(q: float) -> float:
        at = int(np.searchsorted(cumulative, q * total, side="left"))
        return min(float(tops[at]), float(maximum)) / 1000.0

    return Latency(pct(0.5), pct(0.99), maximum / 1000.0, total)


class OutStats:
    """Figures of what left, per input stream (see the module notes)."""

    def __init__(self, *, latency: bool = False) -> None:
        self.latency = latency
        self.t = _LatencyColumns() if latency else _OutColumns()
        self.run_hist = np.zeros(BINS, dtype=np.int64)
        self.run_max = 0
        self.bytes_total = 0
        self.packets_total = 0
        self.late_total = 0
        self._left: list[tuple[I64, I64, np.ndarray, I64]] = []
        self._lat: list[tuple[I64, I64, Bools]] = []
        self._held = 0

    def add(self, batch: PacketBatch) -> None:
        """Count packets that left (in the order they left). The per-stream figures are
        worked out for many batches at once, when asked for or every few thousand packets."""
        if not len(batch):
            return
        sizes = rtp_sizes(batch)
        self.bytes_total += int(sizes.sum())
        self.packets_total += len(batch)
        self._left.append((batch.stream.astype(np.int64), batch.arrival_us,
                           batch.payload_type, sizes))  # fmt: skip
        self._hold(len(batch))

    def _hold(self, rows: int) -> None:
        self._held += rows
        if self._held >= FOLD_ROWS:
            self.fold()

    def fold(self) -> None:
        """Work the packets counted so far into the per-stream figures."""
        left, self._left = self._left, []
        lat, self._lat = self._lat, []
        self._held = 0
        if left:
            cols = [np.concatenate(c) for c in zip(*left, strict=True)]
            self._count(cols[0], cols[1], cols[2], cols[3])
        if lat:
            stream, latency, late = (np.concatenate(c) for c in zip(*lat, strict=True))
            self._latency(stream, latency, late)

    def _count(self, ids: I64, arrival_us: I64, payload_type: np.ndarray, sizes: I64) -> None:
        t = self.t
        t.grow(int(ids.max()) + 1)
        t.packets += np.bincount(ids, minlength=t.size)
        t.bytes += np.bincount(ids, weights=sizes, minlength=t.size).astype(np.int64)
        counts_into(t.pts, ids, payload_type)
        g = Groups.of(ids, arrival_us)
        arrival = arrival_us[g.order]
        np.minimum.at(t.first, g.stream, arrival)
        self._gaps(g, arrival)
        np.maximum.at(t.last, g.stream, arrival)

    def _gaps(self, g: Groups, arrival: I64) -> None:
        t = self.t
        prev = g.previous(arrival, t.last)
        has = prev != UNSET
        if not has.any():
            return
        gap = np.clip(arrival - prev, 0, np.iinfo(np.int32).max)
        pos, _ = g.position(has)
        at = t.ngaps[g.stream[has]] + pos
        room = at < GAPS
        t.gaps[g.stream[has][room], at[room]] = gap[has][room]
        t.ngaps += np.bincount(g.stream[has], minlength=t.size)

    def departed(self, stream: I64, latency_us: I64, late: Bools) -> None:
        """Record the added latency of packets as they leave (live output)."""
        if not stream.shape[0] or not self.latency:
            return
        self._lat.append((stream, latency_us, late))
        self.late_total += int(np.count_nonzero(late))
        self._hold(stream.shape[0])

    def _latency(self, stream: I64, latency_us: I64, late: Bools) -> None:
        t = self.t
        t.grow(int(stream.max()) + 1)
        lat = np.maximum(latency_us, 0)
        bins = np.minimum(np.searchsorted(_EDGES, lat, side="right") - 1, BINS - 1)
        assert isinstance(t, _LatencyColumns)
        counts_into(t.hist, stream, bins)
        self.run_hist += np.bincount(bins, minlength=BINS)
        np.maximum.at(t.lat_max, stream, lat)
        self.run_max = max(self.run_max, int(lat.max()))
        t.late += np.bincount(stream[late], minlength=t.size)

    def figures(self, sid: int) -> OutFigures:
        self.fold()
        t = self.t
        if sid >= t.size or not t.packets[sid]:
            return OutFigures(0, 0, None, 0.0, 0, None)
        kept = t.gaps[sid, : min(int(t.ngaps[sid]), GAPS)]
        gap = float(np.median(kept)) if kept.shape[0] else 0.0
        hist = None
        if isinstance(t, _LatencyColumns):
            hist = latency_of(t.hist[sid], int(t.lat_max[sid]))
        return OutFigures(
            packets=int(t.packets[sid]),
            bytes=int(t.bytes[sid]),
            payload_type=mode_of(t.pts[sid]),
            duration_s=(int(t.last[sid] - t.first[sid]) + gap) / 1e6,
            late=int(t.late[sid]),
            latency=hist,
        )

    def run_latency(self) -> Latency | None:
        self.fold()
        return latency_of(self.run_hist, self.run_max) if self.latency else None

    def reset(self, sid: int) -> None:
        self.fold()
        self.t.reset(sid)
