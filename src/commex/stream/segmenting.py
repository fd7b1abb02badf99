"""Cut a batch into segments by a policy: a packet count, a duration, or the content.

Segments never mix streams: each stream is cut on its own, in ``index`` order, and the segments
of all streams are then numbered by their first packet's index, so ``id`` grows with it. Every
packet lands in exactly one segment.

Every packet has a processing class: ``speech`` or ``silence`` (G.711/L16 audio, by the
voice-activity rule of :mod:`commex.stream.steps.vad`), ``comfort-noise`` (payload type 13),
``telephone-event`` (a dynamic payload type carrying 4-byte RFC 4733 events), or ``other``.
A segment's ``kind`` is the class of its packets, or ``mixed``. The ``content`` policy starts a
new segment wherever the class changes. Classifying costs a level computation over every
sample, so the ``packets`` and ``ms`` policies skip it unless asked (``classify=True``); their
segments are then of kind ``unclassified`` with ``group`` equal to their id.

Similarity to earlier sequences: each segment gets a signature (its kind, the run-length
pattern of its payload types, and its energy profile as the mean level of each quarter in
6 dB steps). A segment whose signature equals an earlier one's gets that segment's ``group``;
otherwise ``group`` is its own id. Repeated sequences (the same prompt, a tone, silence of the
same shape) thus share a group label that a processing service may use to reuse a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I64, PacketBatch
from commex.stream.packets import rows as row_slice
from commex.stream.ragged import gather_spans
from commex.stream.steps.dtmf import is_telephone_event
from commex.stream.steps.vad import CN_PT, F64, levels_dbov, voice_activity

KINDS = ("speech", "silence", "comfort-noise", "telephone-event", "other")
_POLICY = re.compile(r"^(?:(?P<kind>packets|ms):(?P<size>[0-9]{1,9})|(?P<content>content))$")
_RTP_CLOCK_HZ = 8000


@dataclass(frozen=True, slots=True)
class SegmentPolicy:
    """How to cut: ``packets`` of ``size`` packets, ``ms`` of ``size`` milliseconds, or
    ``content``."""

    kind: str
    size: int = 0

    @classmethod
    def parse(cls, text: str) -> SegmentPolicy:
        """Parse ``packets:N``, ``ms:N`` or ``content``; anything else is :class:`InvalidInput`."""
        m = _POLICY.match(text.strip())
        if m is None:
            raise InvalidInput(
                f"invalid segment policy {text!r}: expected packets:N, ms:N or content",
                field="segment",
            )
        if m["content"]:
            return cls("content")
        size = int(m["size"])
        if size < 1:
            raise InvalidInput(f"segment policy {text!r}: N must be at least 1", field="segment")
        return cls(m["kind"], size)

    def __str__(self) -> str:
        return self.kind if self.kind == "content" else f"{self.kind}:{self.size}"


@dataclass(frozen=True)
class Segment:
    """Consecutive packets of one stream, processed as a unit; ``group`` labels repeats."""

    id: int
    kind: str
    batch: PacketBatch
    group: int = -1


def packet_classes(batch: PacketBatch, levels: F64 | None = None) -> I64:
    """Each packet's processing class as an index into :data:`KINDS` (``levels`` as given by
    :func:`~commex.stream.steps.vad.levels_dbov`, when already known)."""
    pts = batch.payload_type
    if levels is None:
        levels = levels_dbov(batch)
    speech = voice_activity(batch, levels=levels)
    is_audio = ~np.isnan(levels)
    event = is_telephone_event(batch)
    kinds = np.select(
        [is_audio & speech, is_audio, pts == CN_PT, event],
        [0, 1, 2, 3],
        default=4,
    )
    return kinds.astype(np.int64)


def _times_ms(batch: PacketBatch, rows: I64) -> I64:
    """Milliseconds since the stream's first packet: arrival time when the rows have one,
    else the RTP timestamp (unwrapped) at 8 kHz."""
    arrival = batch.arrival_us[rows]
    if rows.shape[0] and arrival.max() != arrival.min():
        since: I64 = (arrival - arrival[0]) // 1000
        return since
    ts = batch.timestamp[rows].astype(np.int64)
    step = np.diff(ts, prepend=ts[:1])
    step = (step + (1 << 31)) % (1 << 32) - (1 << 31)  # wrap-around differences
    elapsed: I64 = np.cumsum(step) * 1000 // _RTP_CLOCK_HZ
    return elapsed


def _cuts(policy: SegmentPolicy, rows: I64, batch: PacketBatch, kinds: I64 | None) -> I64:
    """Positions within ``rows`` where a new segment starts (always including 0)."""
    n = rows.shape[0]
    if policy.kind == "packets":
        return np.arange(0, n, policy.size, dtype=np.int64)
    if policy.kind == "ms":
        label = _times_ms(batch, rows) // policy.size
    else:
        assert kinds is not None  # content cuts always classify
        label = kinds[rows]
    change = np.flatnonzero(label[1:] != label[:-1]) + 1
    return np.concatenate([[0], change]).astype(np.int64)


def segment(
    batch: PacketBatch, policy: SegmentPolicy, *, classify: bool | None = None
) -> list[Segment]:
    """Cut ``batch`` into segments by ``policy`` (see the module notes). ``classify`` defaults
    to true for the ``content`` policy only."""
    if len(batch) == 0:
        return []
    if classify is None:
        classify = policy.kind == "content"
    kinds = levels = None
    if classify:
        raw_levels = levels_dbov(batch)
        kinds = packet_classes(batch, raw_levels)
        levels = np.nan_to_num(raw_levels, nan=0.0)
    pieces: list[tuple[int, I64]] = []
    order = np.argsort(batch.index, kind="stable")
    for s in np.unique(batch.stream).tolist():
        rows = order[batch.stream[order] == s]
        for part in np.split(rows, _cuts(policy, rows, batch, kinds)[1:]):
            pieces.append((int(batch.index[part[0]]), part))
    pieces.sort(key=lambda p: p[0])
    seen: dict[tuple[object, ...], int] = {}
    out: list[Segment] = []
    for seg_id, (_, rows) in enumerate(pieces):
        if kinds is None or levels is None:
            kind, group = "unclassified", seg_id
        else:
            present = np.unique(kinds[rows])
            kind = KINDS[int(present[0])] if present.shape[0] == 1 else "mixed"
            group = seen.setdefault(_signature(kind, batch, rows, levels), seg_id)
        out.append(Segment(id=seg_id, kind=kind, batch=_take(batch, rows), group=group))
    return out


def _take(batch: PacketBatch, rows: I64) -> PacketBatch:
    """``batch.take(rows)``: a view when the rows are a slice of the batch (a stream's rows
    of a chunk read stream by stream), else with the span gathers of :mod:`commex.stream.ragged`."""
    n = rows.shape[0]
    if n and int(rows[-1]) - int(rows[0]) == n - 1 and bool(np.all(np.diff(rows) == 1)):
        return row_slice(batch, int(rows[0]), int(rows[-1]) + 1)
    sizes = np.diff(batch.offsets)[rows]
    payload, offsets = gather_spans(batch.payload, batch.offsets[:-1][rows], sizes)
    extra_sizes = np.diff(batch.extra_offsets)[rows]
    extra, extra_offsets = gather_spans(
        batch.header_extra, batch.extra_offsets[:-1][rows], extra_sizes
    )
    return PacketBatch(
        index=batch.index[rows],
        stream=batch.stream[rows],
        arrival_us=batch.arrival_us[rows],
        seq=batch.seq[rows],
        timestamp=batch.timestamp[rows],
        ssrc=batch.ssrc[rows],
        payload_type=batch.payload_type[rows],
        marker=batch.marker[rows],
        csrc_count=batch.csrc_count[rows],
        has_extension=batch.has_extension[rows],
        payload=payload,
        offsets=offsets,
        header_extra=extra,
        extra_offsets=extra_offsets,
        streams=batch.streams,
    )


def _signature(kind: str, batch: PacketBatch, rows: I64, levels: np.ndarray) -> tuple[object, ...]:
    pts = batch.payload_type[rows]
    starts = np.concatenate([[0], np.flatnonzero(pts[1:] != pts[:-1]) + 1])
    runs = tuple(
        zip(pts[starts].tolist(), np.diff(np.append(starts, pts.shape[0])).tolist(), strict=True)
    )
    profile = tuple(
        round(float(np.mean(q)) / 6.0) if q.shape[0] else 0 for q in np.array_split(levels[rows], 4)
    )
    return (kind, runs, profile)
