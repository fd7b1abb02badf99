"""Live segmenting: segments close by media duration or by time, never at the end of input.

Packets wait here until their segment is complete. With ``ms:N`` a segment is complete the
moment it holds N ms of media (a G.711 packet lasts its payload's samples at 8 kHz), so a
20 ms packet of a 20 ms segment leaves at once; with ``packets:N`` when it holds N packets;
with ``content`` when the next packet of the stream needs other processing. A segment that is
not complete by its first packet's arrival plus its hold (N ms, N packets of 20 ms, 60 ms for
content) closes anyway: the stream paused. Every segment that closes in one pass leaves
together, as one batch (a bundle), in input order.
"""

from __future__ import annotations

import math

import numpy as np

from commex.stream.grouping import Groups
from commex.stream.packets import I64, PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.segmenting import SegmentPolicy, packet_classes
from commex.stream.steps.g711 import L16_PT, PCMA_PT, PCMU_PT
from commex.stream.types import Bools

CONTENT_HOLD_MS = 60
PACKET_MS = 20  # what a packet is taken to last when ``packets:N`` needs a time


def hold_ms(policy: SegmentPolicy) -> float:
    """How long a segment's first packet may wait for the rest of it."""
    if policy.kind == "ms":
        return float(policy.size)
    if policy.kind == "packets":
        return float(policy.size * PACKET_MS)
    return float(CONTENT_HOLD_MS)


def media_ms(batch: PacketBatch) -> np.ndarray:
    """How long each packet's media lasts, in ms: G.711 and L16 by their samples at 8 kHz,
    anything else (comfort noise, events, other codecs) nothing, so it never fills a
    segment by itself."""
    sizes = batch.payload_sizes().astype(np.float64)
    pt = batch.payload_type
    ms = np.where((pt == PCMA_PT) | (pt == PCMU_PT), sizes / 8.0, 0.0)
    result: np.ndarray = np.where(pt == L16_PT, sizes / 16.0, ms)
    return result


class LiveSegmenter:
    """Holds each stream's open segment; :meth:`close` gives what is complete."""

    def __init__(self, policy: SegmentPolicy) -> None:
        self.policy = policy
        self.hold_us = int(hold_ms(policy) * 1000)
        self._held: PacketBatch | None = None
        self._deadline = math.inf

    def add(self, batch: PacketBatch) -> None:
        if not len(batch):
            return
        self._held = batch if self._held is None else concat(with_streams([self._held, batch]))

    def held(self) -> int:
        return 0 if self._held is None else len(self._held)

    def next_deadline_us(self) -> float:
        """When the earliest open segment must close though incomplete (wall µs)."""
        return self._deadline

    def close(
        self, now_us: int, *, ending: Bools | None = None, everything: bool = False
    ) -> tuple[PacketBatch, int] | None:
        """The complete segments as one batch in input order, and how many; ``ending``
        (by stream id) and ``everything`` close open segments too."""
        held = self._held
        if held is None:
            return None
        g = Groups.of(held.stream, held.index)
        label, full = self._labels(held, g)
        last = g.last
        open_label = label[last][g.rank]
        first_arrival = self._first_arrivals(held, g, label, open_label)
        done = (label < open_label) | (full[g.rank] > open_label)
        done |= first_arrival + self.hold_us <= now_us
        if ending is not None:
            done |= ending[np.minimum(g.stream, ending.shape[0] - 1)] & (g.stream < ending.shape[0])
        if everything:
            done[:] = True
        self._deadline = (
            float((first_arrival[~done]).min()) + self.hold_us if (~done).any() else math.inf
        )
        if not done.any():
            return None
        s, n = g.stream[done], label[done]
        segments = 1 + int(np.count_nonzero((s[1:] != s[:-1]) | (n[1:] != n[:-1])))
        closed = np.sort(g.order[done])
        kept = np.sort(g.order[~done])
        self._held = held.take(kept) if kept.shape[0] else None
        return held.take(closed), segments

    def _labels(self, held: PacketBatch, g: Groups) -> tuple[I64, I64]:
        """Each sorted row's segment number within its stream, and per stream how many of
        its segments are full."""
        policy = self.policy
        rows = g.order
        if policy.kind == "ms":
            ms = media_ms(held)[rows]
            before = np.cumsum(ms) - ms
            start = before[g.first][g.rank]
            label = np.floor((before - start) / policy.size + 1e-9).astype(np.int64)
            total = np.bincount(g.rank, weights=ms)
            return label, np.floor(total / policy.size + 1e-9).astype(np.int64)
        pos = np.arange(rows.shape[0]) - np.flatnonzero(g.first)[g.rank]
        if policy.kind == "packets":
            counts = np.bincount(g.rank)
            return (pos // policy.size).astype(np.int64), (counts // policy.size).astype(np.int64)
        kinds = packet_classes(held)[rows]
        change = np.ones(rows.shape[0], dtype=np.int64)
        change[1:] = kinds[1:] != kinds[:-1]
        change[g.first] = 0
        label = np.cumsum(change)
        label -= label[g.first][g.rank]
        return label.astype(np.int64), np.zeros(int(g.rank[-1]) + 1, dtype=np.int64)

    @staticmethod
    def _first_arrivals(held: PacketBatch, g: Groups, label: I64, open_label: I64) -> I64:
        """For each sorted row, the arrival of the first packet of its segment."""
        arrival = held.arrival_us[g.order]
        starts = np.ones(label.shape[0], dtype=np.bool_)
        starts[1:] = (label[1:] != label[:-1]) | g.first[1:]
        first: I64 = arrival[starts][np.cumsum(starts) - 1]
        return first
