"""Per-stream figures of what came in, kept as the run goes.

:class:`InStats` follows every input stream's sequence numbers (extended over wrap-around,
RFC 3550 A.1), its loss, its interarrival jitter (RFC 3550 6.4.1) and its payload types; on
live input it also drops duplicates and counts the packets that came out of order. What left
is counted by :mod:`commex.stream.outstats`. State lives in arrays indexed by stream id that
grow as streams appear; a finished live stream's row is reset and its id used again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from commex.stream.grouping import F64, Groups, recurrence_end
from commex.stream.packets import I64, PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.steps.dtmf import is_telephone_event
from commex.stream.types import Bools

CLOCK_HZ = 8000  # the G.711 family's RTP clock, used for jitter
COMFORT_NOISE_PT = 13
_SEEN = 256  # sequence numbers remembered per stream to spot duplicates
FOLD_ROWS = 8192  # packets counted between two updates of the per-stream figures
UNSET = -(1 << 62)


class Columns:
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


class _InColumns(Columns):
    SPEC: ClassVar[dict[str, tuple[str, int | float, tuple[int, ...]]]] = {
        "packets": ("i8", 0, ()),
        "hi": ("i8", UNSET, ()),
        "lo": ("i8", -UNSET, ()),
        "duplicates": ("i8", 0, ()),
        "reordered": ("i8", 0, ()),
        "main_pt": ("i2", -1, ()),
        "jitter": ("f8", 0.0, ()),
        "last_r": ("f8", 0.0, ()),
        "last_ts": ("i8", UNSET, ()),
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


def counts_into(table: np.ndarray, stream: I64, values: np.ndarray) -> None:
    """Add one to ``table[stream[i], values[i]]`` for every row, without a loop per row."""
    width = table.shape[1]
    keys, counts = np.unique(stream * width + values.astype(np.int64), return_counts=True)
    table.reshape(-1)[keys] += counts


def _headers(batches: list[PacketBatch]) -> PacketBatch:
    """The batches' rows end to end, with what jitter and payload types need (the
    payloads only as far as telephone events are told by them)."""
    return concat(with_streams(batches))


def mode_of(row: np.ndarray) -> int | None:
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


class InStats:
    """Figures of the input streams (see the module notes)."""

    def __init__(self) -> None:
        self.t = _InColumns()
        self._pending: list[PacketBatch] = []
        self._held = 0

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
        self._pending.append(batch)
        self._held += len(batch)
        if self._held >= FOLD_ROWS:
            self.fold()
        return batch

    def fold(self) -> None:
        """Work the payload types and jitter of the batches counted so far into the
        per-stream figures (for many batches at once)."""
        if not self._pending:
            return
        pending, self._pending, self._held = self._pending, [], 0
        batch = pending[0] if len(pending) == 1 else _headers(pending)
        g = Groups.of(batch.stream, batch.index)
        counts_into(self.t.pts, g.stream, batch.payload_type[g.order])
        self._jitter(batch, g)

    def _extend(self, g: Groups, seq: I64) -> I64:
        """Sequence numbers extended past wrap-around, relative to each stream's highest."""
        t = self.t
        known = t.hi[g.stream]
        first_seq = seq[g.first][g.rank]
        ref = np.where(known == UNSET, first_seq + 65536, known)
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
        if (t.main_pt[g.stream] < 0).any():
            self._main_types(g, pts, is_telephone_event(batch)[rows])
        media = (pts == t.main_pt[g.stream]) | (pts == COMFORT_NOISE_PT)
        m, picked = (g, rows) if media.all() else (g.subset(media), rows[media])
        ts = batch.timestamp[picked].astype(np.int64)
        arrival = batch.arrival_us[picked] * (CLOCK_HZ / 1e6)
        new = ts != m.previous(ts, t.last_ts)
        k = m
        if not new.all():
            k, ts, arrival = m.subset(new), ts[new], arrival[new]
        prev_ts = k.previous(ts, t.last_ts)
        sent = (ts - prev_ts + (1 << 31)) % (1 << 32) - (1 << 31)
        d = np.abs((arrival - k.previous(arrival, t.last_r)) - sent)
        valid = (prev_ts != UNSET) & (sent > -CLOCK_HZ)
        t.jitter, _ = recurrence_end(k, t.jitter, d, valid, 1 / 16, t.size)
        last = k.last
        t.last_ts[k.stream[last]] = ts[last]
        t.last_r[k.stream[last]] = arrival[last]

    def _main_types(self, g: Groups, pts: np.ndarray, event: Bools) -> None:
        """A stream's main payload type is its first that is neither an event nor comfort
        noise."""
        t = self.t
        candidate = ~event & (pts != COMFORT_NOISE_PT) & (t.main_pt[g.stream] < 0)
        if candidate.any():
            ids = g.stream[candidate]
            first = np.unique(ids, return_index=True)[1]
            t.main_pt[ids[first]] = pts[candidate][first]

    def lost(self, sid: int) -> int:
        t = self.t
        if sid >= t.size or t.hi[sid] == UNSET:
            return 0
        return max(0, int(t.hi[sid] - t.lo[sid] + 1 - t.packets[sid]))

    def figures(self, sid: int) -> InFigures:
        self.fold()
        t = self.t
        if sid >= t.size:
            return InFigures(0, 0, 0, 0, 0.0, None)
        return InFigures(
            packets=int(t.packets[sid]),
            lost=self.lost(sid),
            duplicates=int(t.duplicates[sid]),
            reordered=int(t.reordered[sid]),
            jitter_ms=float(t.jitter[sid]) * 1000.0 / CLOCK_HZ,
            payload_type=mode_of(t.pts[sid]),
        )

    def highest(self, sid: int) -> int | None:
        """The highest extended sequence number of stream ``sid`` so far."""
        value = int(self.t.hi[sid]) if sid < self.t.size else UNSET
        return None if value == UNSET else value

    def reset(self, sid: int) -> None:
        self.t.reset(sid)
