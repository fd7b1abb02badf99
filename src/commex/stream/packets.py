"""The packet plane's one data model: RTP packets held column by column.

A :class:`PacketBatch` keeps every header field in its own numpy array and every payload in one
shared byte buffer, so the hot loops (transcoding, gain, segment cutting) run over whole arrays
instead of a Python object per packet. Segments, worker results and the aggregated output are
all batches; a batch is immutable by convention (operations return new batches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from commex.stream.ragged import gather_spans, scatter_spans
from commex.stream.types import I32, I64, U8, U16, U32, Bools

__all__ = ["I32", "I64", "U8", "U16", "U32", "Bools", "PacketBatch", "StreamKey", "concat"]


@dataclass(frozen=True, slots=True)
class StreamKey:
    """How streams are told apart: the UDP 5-tuple's addresses and ports, and the SSRC."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int


def _empty(dtype: Any) -> Any:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True, eq=False)
class PacketBatch:
    """Columns of RTP packets; row ``i`` is one packet.

    ``index`` is the packet's position in the input (unique within a run): it orders the output
    and proves that no packet was lost or duplicated on the way through workers. ``stream`` is
    an index into ``streams``. Payload ``i`` is ``payload[offsets[i]:offsets[i + 1]]``.
    ``header_extra`` keeps each packet's CSRC list and header extension bytes verbatim
    (``extra_offsets`` works like ``offsets``), so they survive processing.
    """

    index: I64 = field(default_factory=lambda: _empty(np.int64))
    stream: I32 = field(default_factory=lambda: _empty(np.int32))
    arrival_us: I64 = field(default_factory=lambda: _empty(np.int64))
    seq: U16 = field(default_factory=lambda: _empty(np.uint16))
    timestamp: U32 = field(default_factory=lambda: _empty(np.uint32))
    ssrc: U32 = field(default_factory=lambda: _empty(np.uint32))
    payload_type: U8 = field(default_factory=lambda: _empty(np.uint8))
    marker: Bools = field(default_factory=lambda: _empty(np.bool_))
    csrc_count: U8 = field(default_factory=lambda: _empty(np.uint8))
    has_extension: Bools = field(default_factory=lambda: _empty(np.bool_))
    payload: U8 = field(default_factory=lambda: _empty(np.uint8))
    offsets: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    header_extra: U8 = field(default_factory=lambda: _empty(np.uint8))
    extra_offsets: I64 = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    streams: tuple[StreamKey, ...] = ()

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def payload_of(self, i: int) -> bytes:
        """The payload bytes of row ``i``."""
        return bytes(self.payload[self.offsets[i] : self.offsets[i + 1]])

    def payload_sizes(self) -> I64:
        """The payload length of every row."""
        return np.diff(self.offsets)

    def take(self, rows: npt.ArrayLike) -> PacketBatch:
        """A new batch of the given rows (an index array or a boolean mask), in that order."""
        sel = np.asarray(rows)
        if sel.dtype == np.bool_:
            sel = np.flatnonzero(sel)
        sel = sel.astype(np.int64, copy=False)
        payload, offsets = gather_ragged(self.payload, self.offsets, sel)
        extra, extra_offsets = gather_ragged(self.header_extra, self.extra_offsets, sel)
        return PacketBatch(
            index=self.index[sel],
            stream=self.stream[sel],
            arrival_us=self.arrival_us[sel],
            seq=self.seq[sel],
            timestamp=self.timestamp[sel],
            ssrc=self.ssrc[sel],
            payload_type=self.payload_type[sel],
            marker=self.marker[sel],
            csrc_count=self.csrc_count[sel],
            has_extension=self.has_extension[sel],
            payload=payload,
            offsets=offsets,
            header_extra=extra,
            extra_offsets=extra_offsets,
            streams=self.streams,
        )


def rows(batch: PacketBatch, lo: int, hi: int) -> PacketBatch:
    """Rows ``lo:hi`` of ``batch`` as views, without copying payloads."""
    if lo == 0 and hi >= len(batch):
        return batch
    hi = min(hi, len(batch))
    p0, p1 = int(batch.offsets[lo]), int(batch.offsets[hi])
    e0, e1 = int(batch.extra_offsets[lo]), int(batch.extra_offsets[hi])
    return PacketBatch(
        index=batch.index[lo:hi],
        stream=batch.stream[lo:hi],
        arrival_us=batch.arrival_us[lo:hi],
        seq=batch.seq[lo:hi],
        timestamp=batch.timestamp[lo:hi],
        ssrc=batch.ssrc[lo:hi],
        payload_type=batch.payload_type[lo:hi],
        marker=batch.marker[lo:hi],
        csrc_count=batch.csrc_count[lo:hi],
        has_extension=batch.has_extension[lo:hi],
        payload=batch.payload[p0:p1],
        offsets=batch.offsets[lo : hi + 1] - p0,
        header_extra=batch.header_extra[e0:e1],
        extra_offsets=batch.extra_offsets[lo : hi + 1] - e0,
        streams=batch.streams,
    )


def gather_ragged(buffer: U8, offsets: I64, rows: I64) -> tuple[U8, I64]:
    """Gather rows of a ragged byte array (``buffer`` cut at ``offsets``) without a Python loop."""
    starts = offsets[:-1][rows]
    return gather_spans(buffer, starts, offsets[1:][rows] - starts)


def concat(batches: list[PacketBatch], order: I64 | None = None) -> PacketBatch:
    """One batch holding the rows of ``batches`` in order; they must share ``streams``.

    With ``order`` (a permutation of all the rows, as they stand end to end), row ``i`` of the
    result is row ``order[i]``: each payload is then copied once, straight to its place, rather
    than concatenated and moved again.
    """
    if not batches:
        return PacketBatch()
    streams = batches[0].streams
    if any(b.streams != streams for b in batches):
        raise ValueError("cannot concatenate batches of different stream tables")

    def cat(name: str) -> Any:
        column = np.concatenate([getattr(b, name) for b in batches])
        return column if order is None else column[order]

    def ragged(buf: str, offs: str) -> tuple[U8, I64]:
        sizes = np.concatenate([np.diff(getattr(b, offs)) for b in batches])
        if order is not None:
            sizes = sizes[order]
        out = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=out[1:])
        if order is None:
            return np.concatenate([getattr(b, buf) for b in batches]), out
        data = np.empty(int(out[-1]), dtype=np.uint8)
        place = np.empty(order.shape[0], dtype=np.int64)
        place[order] = out[:-1]  # where each row, as the batches stand, begins in the result
        first = 0
        for b in batches:
            rows = len(b)
            scatter_spans(data, place[first : first + rows], getattr(b, buf), getattr(b, offs))
            first += rows
        return data, out

    payload, offsets = ragged("payload", "offsets")
    extra, extra_offsets = ragged("header_extra", "extra_offsets")
    return PacketBatch(
        index=cat("index"),
        stream=cat("stream"),
        arrival_us=cat("arrival_us"),
        seq=cat("seq"),
        timestamp=cat("timestamp"),
        ssrc=cat("ssrc"),
        payload_type=cat("payload_type"),
        marker=cat("marker"),
        csrc_count=cat("csrc_count"),
        has_extension=cat("has_extension"),
        payload=payload,
        offsets=offsets,
        header_extra=extra,
        extra_offsets=extra_offsets,
        streams=streams,
    )
