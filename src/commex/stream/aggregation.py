"""S6: put processed packets back together into the output stream, bundle by bundle.

Bundles leave the last processing stage in input order. :class:`Aggregator` closes the
sequence-number gaps that dropped packets (VAD) leave in each stream, so every output stream
stays continuous while real loss in the input stays visible, and gathers the key presses
found (a key press that a segment cut in two is one event again, see :func:`merge_dtmf`).
:func:`merge` puts the bundles of one input chunk back in input order for a capture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from commex.stream.grouping import Groups
from commex.stream.packets import I32, I64, PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.steps.base import DtmfEvent
from commex.stream.tasks import SegmentFailed

DTMF_GAP_MS = 30  # fragments of one key press closer than this are one event


def merge(results: Iterable[PacketBatch]) -> PacketBatch:
    """Every result row in input order; a packet present twice is an error, never output."""
    batches = with_streams([b for b in results if len(b)])
    if not batches:
        return PacketBatch()
    index = np.concatenate([b.index for b in batches])
    order = None if _is_sorted(index) else np.argsort(index, kind="stable")
    merged = concat(batches, order)
    if merged.index.shape[0] > 1 and bool(np.any(np.diff(merged.index) == 0)):
        raise SegmentFailed("a packet came back from two segments")
    return merged


def in_order(results: Iterable[PacketBatch]) -> list[PacketBatch]:
    """The result rows in input order, as few batches as that takes: the results as they are
    when they already follow each other (the usual case: payloads are not copied to join
    them), else the one batch of :func:`merge`. A packet present twice is an error."""
    batches = with_streams([b for b in results if len(b)])
    if len(batches) < 2:
        return batches
    index = np.concatenate([b.index for b in batches])
    if bool(np.all(index[1:] > index[:-1])):
        return batches
    return [merge(batches)]


def _is_sorted(values: Any) -> bool:
    return values.shape[0] < 2 or bool(np.all(values[1:] >= values[:-1]))


def merge_dtmf(events: Iterable[DtmfEvent], gap_ms: int = DTMF_GAP_MS) -> list[DtmfEvent]:
    """Join the pieces of one key press (same digit, SSRC and source, overlapping or less
    than ``gap_ms`` apart) that segment boundaries cut; the result is in time order."""
    ordered = sorted(events, key=lambda e: (e.ssrc, e.source, e.digit, e.start_ms))
    merged: list[DtmfEvent] = []
    for e in ordered:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.ssrc, last.source, last.digit) == (e.ssrc, e.source, e.digit)
            and e.start_ms <= last.start_ms + last.duration_ms + gap_ms
        ):
            end = max(last.start_ms + last.duration_ms, e.start_ms + e.duration_ms)
            merged[-1] = replace(last, duration_ms=end - last.start_ms)
        else:
            merged.append(e)
    return sorted(merged, key=lambda e: (e.start_ms, e.ssrc, e.digit))


class Aggregator:
    """Renumbers each stream over the packets steps dropped, and collects key presses.

    A packet's new sequence number is its input number minus the packets of its stream
    dropped before it (in this and every earlier bundle), so gaps that were already in the
    input (real loss) stay visible downstream.
    """

    def __init__(self) -> None:
        self._dropped = np.zeros(0, dtype=np.int64)
        self.dtmf: list[DtmfEvent] = []

    def take(
        self, out: PacketBatch, sent_index: I64, sent_stream: I32, dtmf: Iterable[DtmfEvent] = ()
    ) -> PacketBatch:
        """``out``, the processed form of the packets ``sent_index`` (of ``sent_stream``),
        renumbered; ``dtmf`` are the key presses found in them."""
        self.dtmf.extend(dtmf)
        if len(out) == sent_index.shape[0] and not self._dropped.any():
            return out
        size = int(max(sent_stream.max(initial=-1), out.stream.max(initial=-1))) + 1
        if self._dropped.shape[0] < size:
            self._dropped = np.concatenate(
                [self._dropped, np.zeros(size - self._dropped.shape[0], dtype=np.int64)]
            )
        order = np.argsort(sent_index, kind="stable")
        ordered = sent_index[order]
        at = np.searchsorted(ordered, out.index)
        if bool(np.any(at >= ordered.shape[0])) or not np.array_equal(ordered[at], out.index):
            raise SegmentFailed("the output holds packets that were never input")
        gone = np.ones(ordered.shape[0], dtype=np.bool_)
        gone[at] = False
        g = Groups.of(sent_stream[order], ordered)
        dropped = gone[g.order]
        running = np.cumsum(dropped)
        base: I64 = (running - dropped)[g.first][g.rank]
        before = np.empty(ordered.shape[0], dtype=np.int64)
        before[g.order] = running - dropped - base + self._dropped[g.stream]
        self._dropped += np.bincount(g.stream[dropped], minlength=self._dropped.shape[0])
        seq = (out.seq.astype(np.int64) - before[at]) % 65536
        return replace(out, seq=seq.astype(np.uint16))

    def forget(self, sid: int) -> None:
        """Stream ``sid`` ended; its id may start a new stream."""
        if sid < self._dropped.shape[0]:
            self._dropped[sid] = 0
