"""Per-stream figures kept as the run goes: what came in, and what went out.

:class:`InStats` follows every input stream's sequence numbers (extended over wrap-around,
RFC 3550 A.1), its loss, its interarrival jitter (RFC 3550 6.4.1) and its payload types; on
live input it also drops duplicates and counts the packets that came out of order.
:class:`OutStats` counts what left per stream: packets, bytes, payload types, the media
duration, and on live output the added latency of every packet (a histogram per stream, so
memory does not grow with the call). State lives in arrays indexed by stream id; a finished
live stream's row is reset and its id used again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from commex.stream.grouping import F64, Groups, recurrence_end
from commex.stream.packets import I64, PacketBatch
from commex.stream.report import Latency
from commex.stream.rtp import rtp_sizes
from commex.stream.steps.dtmf import is_telephone_event
from commex.stream.types import Bools

CLOCK_HZ = 8000  # the G.711 family's RTP clock, used for jitter
COMFORT_NOISE_PT = 13
_SEEN = 256  # sequence numbers remembered per stream to spot duplicates
GAPS = 2048  # inter-packet gaps kept per stream for its usual packet interval
_NONE = -(1 << 62)


# Latency bins (µs): 0.1 ms wide up to 100 ms, then 4% wide up to about 100 s.
_EDGES = np.concatenate(
    [np.arange(0, 100_000, 100), np.unique(np.geomspace(100_000, 1e8, 180).astype(np.int64))]
).astype(np.int64)
BINS = int(_EDGES.shape[0])


class _Columns:
    """Arrays indexed by stream id that grow as streams appear; a subclass names them in
    ``SPEC`` (dtype, fill value, shape of a row) and declares them as attributes."""

    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {}

    def __init__(self) -> None:
        self.size = 0
        for name, (dtype, fill, shape) in self.SPEC.items():
            setattr(self, name, np.full((0, *shape), fill, dtype=dtype))

    def grow(self, needed: int) -> None:
        if needed <= self.size:
            return
        size = max(needed, 2 * self.size, 16)
        for name, (dtype, fill, shape) in self.SPEC.items():
            new = np.full((size, *shape), fill, dtype=dtype)
            new[: self.size] = getattr(self, name)
            setattr(self, name, new)
        self.size = size

    def reset(self, sid: int) -> None:
        if sid < self.size:
            for name, (_, fill, _) in self.SPEC.items():
                getattr(self, name)[sid] = fill


class _InColumns(_Columns):
    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {
        "packets": ("i8", 0, ()),
        "hi": ("i8", _NONE, ()),
        "lo": ("i8", -_NONE, ()),
        "duplicates": ("i8", 0, ()),
        "reordered": ("i8", 0, ()),
        "main_pt": ("i2", -1, ()),
        "jitter": ("f8", 0.0, ()),
        "last_r": ("f8", 0.0, ()),
        "last_ts": ("i8", _NONE, ()),
        "seen": ("i8", -1, (_SEEN,)),
        "pts": ("i8", 0, (128,)),
    }
    packets: I64
    hi: I64
    lo: I64
    duplicates: I64
    reordered: I64
    main_pt: npt.NDArray[np.int16]
    jitter: F64
    last_r: F64
    last_ts: I64
    seen: I64
    pts: I64


class _OutColumns(_Columns):
    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {
        "packets": ("i8", 0, ()),
        "bytes": ("i8", 0, ()),
        "first": ("i8", -_NONE, ()),
        "last": ("i8", _NONE, ()),
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


def _counts_into(table: np.ndarray, stream: I64, values: np.ndarray) -> None:
    """Add one to ``table[stream[i], values[i]]`` for every row, without a loop per row."""
    width = table.shape[1]
    keys, counts = np.unique(stream * width + values.astype(np.int64), return_counts=True)
    table.reshape(-1)[keys] += counts


def _mode(row: np.ndarray) -> int | None:
    return int(row.argmax()) if row.sum() else None


@dataclass(frozen=True, slots=True)
class InFigures:
    """One input stream so far: packets, loss, repairs, jitter and main payload type."""

    packets: int
    lost: int
    duplicates: int
    reordered: int
    jitter_ms: float
    payload_type: int | None


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


class InStats:
    """Figures of the input streams (see the module notes)."""

    def __init__(self) -> None:
        self.t = _InColumns()

    def add(self, batch: PacketBatch, *, live: bool = False) -> PacketBatch:
        """Count ``batch``; on live input, return it without the duplicates it held."""
        if not len(batch):
            return batch
        t = self.t
        t.grow(int(batch.stream.max()) + 1)
        g = Groups.of(batch.stream, batch.index)
        ext = self._extend(g, batch.seq[g.order].astype(np.int64))
        if live:
            dup = self._duplicates(g, ext)
            if dup.any():
                keep = np.sort(g.order[~dup])
                batch = batch.take(keep)
                g = Groups.of(batch.stream, batch.index)
                ext = self._extend(g, batch.seq[g.order].astype(np.int64))
            self._order(g, ext)
        ids = g.stream
        np.maximum.at(t.hi, ids, ext)
        np.minimum.at(t.lo, ids, ext)
        t.packets += np.bincount(ids, minlength=t.size)
        _counts_into(t.pts, ids, batch.payload_type[g.order])
        self._jitter(batch, g)
        return batch

    def _extend(self, g: Groups, seq: I64) -> I64:
        """Sequence numbers extended past wrap-around, relative to each stream's highest."""
        t = self.t
        known = t.hi[g.stream]
        first_seq = seq[g.first][g.rank]
        ref = np.where(known == _NONE, first_seq + 65536, known)
        delta = (seq - ref + 32768) % 65536 - 32768
        ext: I64 = ref + delta
        return ext

    def _duplicates(self, g: Groups, ext: I64) -> Bools:
        """Rows seen before (in this batch or lately), remembering the rest."""
        t = self.t
        slot = ext % _SEEN
        dup: Bools = t.seen[g.stream, slot] == ext
        key = g.stream * (1 << 40) + ext
        _, first = np.unique(key, return_index=True)
        again = np.ones(key.shape[0], dtype=np.bool_)
        again[first] = False
        dup |= again
        keep = ~dup
        t.seen[g.stream[keep], slot[keep]] = ext[keep]
        t.duplicates += np.bincount(g.stream[dup], minlength=t.size)
        return dup

    def _order(self, g: Groups, ext: I64) -> None:
        """Count rows that came after a later sequence number of their stream."""
        t = self.t
        before = g.previous(g.running_max(ext, t.hi), t.hi)
        late = ext < before
        t.reordered += np.bincount(g.stream[late], minlength=t.size)

    def _jitter(self, batch: PacketBatch, g: Groups) -> None:
        """RFC 3550 interarrival jitter on each stream's media clock: its main payload type
        and comfort noise (not telephone events); repeated timestamps are not new samples and
        a timestamp that goes back by more than a second is the sender restarting."""
        t = self.t
        rows = g.order
        pts = batch.payload_type[rows].astype(np.int16)
        event = is_telephone_event(batch)[rows]
        self._main_types(g, pts, event)
        media = (pts == t.main_pt[g.stream]) | (pts == COMFORT_NOISE_PT)
        m = Groups.of(g.stream[media], batch.index[rows][media])
        ts = batch.timestamp[rows][media].astype(np.int64)[m.order]
        arrival = batch.arrival_us[rows][media][m.order] * (CLOCK_HZ / 1e6)
        new = ts != m.previous(ts, t.last_ts)
        k = Groups.of(m.stream[new], np.flatnonzero(new))
        ts, arrival = ts[new][k.order], arrival[new][k.order]
        prev_ts = k.previous(ts, t.last_ts)
        sent = (ts - prev_ts + (1 << 31)) % (1 << 32) - (1 << 31)
        d = np.abs((arrival - k.previous(arrival, t.last_r)) - sent)
        valid = (prev_ts != _NONE) & (sent > -CLOCK_HZ)
        t.jitter, _ = recurrence_end(k, t.jitter, d, valid, 1 / 16, t.size)
        last = k.last
        t.last_ts[k.stream[last]] = ts[last]
        t.last_r[k.stream[last]] = arrival[last]

    def _main_types(self, g: Groups, pts: np.ndarray, event: Bools) -> None:
        t = self.t
        candidate = ~event & (pts != COMFORT_NOISE_PT) & (t.main_pt[g.stream] < 0)
        if candidate.any():
            ids = g.stream[candidate]
            first = np.unique(ids, return_index=True)[1]
            t.main_pt[ids[first]] = pts[candidate][first]

    def lost(self, sid: int) -> int:
        t = self.t
        if sid >= t.size or t.hi[sid] == _NONE:
            return 0
        return max(0, int(t.hi[sid] - t.lo[sid] + 1 - t.packets[sid]))

    def figures(self, sid: int) -> InFigures:
        t = self.t
        if sid >= t.size:
            return InFigures(0, 0, 0, 0, 0.0, None)
        return InFigures(
            packets=int(t.packets[sid]),
            lost=self.lost(sid),
            duplicates=int(t.duplicates[sid]),
            reordered=int(t.reordered[sid]),
            jitter_ms=float(t.jitter[sid]) * 1000.0 / CLOCK_HZ,
            payload_type=_mode(t.pts[sid]),
        )

    def highest(self, sid: int) -> int | None:
        """The highest extended sequence number of stream ``sid`` so far."""
        value = int(self.t.hi[sid]) if sid < self.t.size else _NONE
        return None if value == _NONE else value

    def reset(self, sid: int) -> None:
        self.t.reset(sid)


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

    def add(self, batch: PacketBatch) -> None:
        """Count packets that left (in the order they left)."""
        if not len(batch):
            return
        t = self.t
        t.grow(int(batch.stream.max()) + 1)
        ids = batch.stream.astype(np.int64)
        t.packets += np.bincount(ids, minlength=t.size)
        sizes = rtp_sizes(batch)
        t.bytes += np.bincount(ids, weights=sizes, minlength=t.size).astype(np.int64)
        self.bytes_total += int(sizes.sum())
        self.packets_total += len(batch)
        _counts_into(t.pts, ids, batch.payload_type)
        g = Groups.of(ids, batch.arrival_us)
        arrival = batch.arrival_us[g.order]
        np.minimum.at(t.first, g.stream, arrival)
        self._gaps(g, arrival)
        np.maximum.at(t.last, g.stream, arrival)

    def _gaps(self, g: Groups, arrival: I64) -> None:
        t = self.t
        prev = g.previous(arrival, t.last)
        has = prev != _NONE
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
        t = self.t
        t.grow(int(stream.max()) + 1)
        lat = np.maximum(latency_us, 0)
        bins = np.minimum(np.searchsorted(_EDGES, lat, side="right") - 1, BINS - 1)
        assert isinstance(t, _LatencyColumns)
        _counts_into(t.hist, stream, bins)
        self.run_hist += np.bincount(bins, minlength=BINS)
        np.maximum.at(t.lat_max, stream, lat)
        self.run_max = max(self.run_max, int(lat.max()))
        t.late += np.bincount(stream[late], minlength=t.size)

    def figures(self, sid: int) -> OutFigures:
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
            payload_type=_mode(t.pts[sid]),
            duration_s=(int(t.last[sid] - t.first[sid]) + gap) / 1e6,
            late=int(t.late[sid]),
            latency=hist,
        )

    def run_latency(self) -> Latency | None:
        return latency_of(self.run_hist, self.run_max) if self.latency else None

    def reset(self, sid: int) -> None:
        self.t.reset(sid)
