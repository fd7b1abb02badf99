"""Read RTP streams out of pcap and pcapng captures, and write batches back as pcap.

Speed comes from never building a Python object per packet: a tight loop finds where each
record starts, and numpy decodes the link, IP, UDP and RTP headers of all records at once;
the writer lays out thousands of frames in one buffer and writes it with one call. Both work
on pieces of about a megabyte, which stay in the CPU cache.

Which UDP datagrams are RTP: the datagram must decode as RTP version 2 (not RTCP, consistent
lengths) and its stream (UDP 5-tuple plus SSRC) must have at least ``min_packets`` such
datagrams (3 by default). UDPTL (T.38 fax) and other UDP traffic that happens to start with
version bits 2 change their would-be SSRC on every packet and so never form a stream.

Chunked reading (:func:`iter_chunks`, :func:`iter_capture`) decides a chunk's streams with the
counts of that chunk and the next one, so a stream whose first ``min_packets`` datagrams span
more than two chunks loses its first packets there; :func:`read_capture` sees the whole file.
Each chunk's batch carries the stream table as known so far: it only grows and stream ids
never change, so the last chunk's table is valid for every earlier chunk (:func:`with_streams`).
``PacketBatch.index`` is the record's position in the capture (frame number minus one).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

import numpy as np

from commex.stream.frameencode import encode_records
from commex.stream.frames import (
    FRAGMENT,
    MALFORMED,
    NOT_UDP,
    TRUNCATED,
    UDP,
    addresses,
    decode_frames,
)
from commex.stream.packets import I64, U8, PacketBatch, concat, rows
from commex.stream.records import MalformedCapture, Records, UnsupportedCapture, read_records
from commex.stream.rtp import RtpColumns, columns_to_batch, decode_columns
from commex.stream.streamtable import StreamTable, key_rows

__all__ = [
    "DEFAULT_CHUNK",
    "MIN_STREAM_PACKETS",
    "Capture",
    "CaptureChunk",
    "MalformedCapture",
    "PcapWriter",
    "UnsupportedCapture",
    "iter_capture",
    "iter_chunks",
    "read_capture",
    "with_streams",
    "write_pcap",
]

DEFAULT_CHUNK = 2 << 20
_CACHE_CHUNK = 1 << 20  # decoding works best on chunks that stay in the CPU cache
_WRITE_ROWS = 8192
MIN_STREAM_PACKETS = 3


@dataclass(frozen=True)
class CaptureChunk:
    """Part of a capture: its RTP packets, what was skipped and why, and the read progress."""

    batch: PacketBatch
    skip_reasons: dict[str, int]
    records: int
    datagrams: int
    bytes_read: int
    total_bytes: int


@dataclass(frozen=True)
class Capture:
    """A whole capture: the RTP packets, and counts of the records that were not RTP.

    ``datagrams`` counts the UDP datagrams; ``skipped`` every record that did not become a
    packet, broken down by reason in ``skip_reasons`` (``not-udp``, ``fragment``,
    ``truncated``, ``not-rtp``, ``not-rtp-stream``, ``unsupported-block``).
    """

    batch: PacketBatch
    skipped: int
    datagrams: int
    records: int
    skip_reasons: dict[str, int] = field(default_factory=dict)


def read_capture(path: str | os.PathLike[str], *, min_packets: int = MIN_STREAM_PACKETS) -> Capture:
    """Read every RTP packet of a pcap or pcapng file into one batch.

    The file is decoded in cache-sized chunks, but streams are decided with the counts of the
    whole file before any chunk is finished, so no stream loses its first packets.
    """
    total = Path(path).stat().st_size
    table = StreamTable(min_packets)
    decoded: list[_Decoded] = []
    with open(path, "rb") as f:
        next_index = 0
        for records, bytes_read in read_records(f, _CACHE_CHUNK):
            decoded.append(_decode(records, next_index, bytes_read))
            next_index += int(records.starts.shape[0])
            table.count(decoded[-1].keys)
    chunks = [_finish(d, table, total) for d in decoded]
    reasons: dict[str, int] = {}
    for c in chunks:
        for k, v in c.skip_reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    batches = with_streams([c.batch for c in chunks])
    full = [b for b in batches if len(b)]
    if len(full) == 1:  # a small capture: no copy
        batch = full[0]
    else:
        batch = concat(full) if full else (batches[-1] if batches else PacketBatch())
    return Capture(
        batch=batch,
        skipped=sum(reasons.values()),
        datagrams=sum(c.datagrams for c in chunks),
        records=sum(c.records for c in chunks),
        skip_reasons=reasons,
    )


def iter_capture(
    path: str | os.PathLike[str],
    chunk: int = DEFAULT_CHUNK,
    *,
    min_packets: int = MIN_STREAM_PACKETS,
) -> Iterator[tuple[PacketBatch, int, int]]:
    """Yield ``(batch, bytes_read, total_bytes)`` about every ``chunk`` bytes, for progress bars."""
    for c in iter_chunks(path, chunk=chunk, min_packets=min_packets):
        yield c.batch, c.bytes_read, c.total_bytes


def with_streams(batches: list[PacketBatch]) -> list[PacketBatch]:
    """Give every batch the last (largest) stream table, so they can be concatenated."""
    if not batches:
        return []
    final = batches[-1].streams
    return [b if b.streams == final else replace(b, streams=final) for b in batches]


# --- reading ---------------------------------------------------------------------------------


@dataclass
class _Decoded:
    """A chunk decoded down to RTP candidates, waiting for the next chunk's stream counts."""

    records: Records
    first_index: int
    udp: I64  # records that are whole UDP datagrams
    udp_start: I64
    cols: RtpColumns  # RTP decode of those datagrams
    candidates: I64  # positions in ``udp`` that decode as RTP
    keys: U8
    reasons: dict[str, int]
    bytes_read: int


def iter_chunks(
    path: str | os.PathLike[str],
    *,
    chunk: int = DEFAULT_CHUNK,
    min_packets: int = MIN_STREAM_PACKETS,
) -> Iterator[CaptureChunk]:
    """Read a capture chunk by chunk; see the module notes for how streams are decided."""
    total = Path(path).stat().st_size
    table = StreamTable(min_packets)
    with open(path, "rb") as f:
        pending: _Decoded | None = None
        next_index = 0
        for records, bytes_read in read_records(f, max(chunk, 1 << 16)):
            decoded = _decode(records, next_index, bytes_read)
            next_index += int(records.starts.shape[0])
            table.count(decoded.keys)
            if pending is not None:
                yield _finish(pending, table, total)
            pending = decoded
        if pending is not None:
            yield _finish(pending, table, total)


def _decode(records: Records, first_index: int, bytes_read: int) -> _Decoded:
    frames = decode_frames(records.buf, records.starts, records.caplen, records.link)
    reason = frames.reason
    udp = np.flatnonzero(reason == UDP)
    udp_start = frames.udp_start[udp]
    cols = decode_columns(records.buf, udp_start, frames.udp_len[udp], head=frames.rtp_head[udp])
    candidates = np.flatnonzero(cols.ok)
    rows = udp[candidates]
    src, dst = addresses(frames, rows)
    keys = key_rows(
        src,
        dst,
        is_v6=frames.is_v6[rows],
        sport=frames.sport[rows],
        dport=frames.dport[rows],
        ssrc=cols.ssrc[candidates].astype(np.int64),
    )
    counts = np.bincount(reason, minlength=5).tolist()
    reasons = {
        "not-udp": counts[NOT_UDP],
        "fragment": counts[FRAGMENT],
        "truncated": counts[TRUNCATED] + records.truncated_tail,
        "malformed": counts[MALFORMED],
        "not-rtp": int(udp.shape[0] - candidates.shape[0]),
        "unsupported-block": records.unsupported_blocks,
    }
    return _Decoded(
        records, first_index, udp, udp_start, cols, candidates, keys, reasons, bytes_read
    )


def _finish(d: _Decoded, table: StreamTable, total: int) -> CaptureChunk:
    ids = table.assign(d.keys)
    keep = ids >= 0
    reasons = dict(d.reasons)
    reasons["not-rtp-stream"] = int(keep.shape[0] - np.count_nonzero(keep))
    sel = d.candidates[keep]
    rows = d.udp[sel]
    batch = columns_to_batch(
        d.records.buf,
        d.udp_start,
        d.cols,
        sel,
        index=d.first_index + rows,
        stream=ids[keep],
        arrival_us=d.records.arrival_us[rows],
        streams=table.streams,
    )
    return CaptureChunk(
        batch=batch,
        skip_reasons={k: v for k, v in reasons.items() if v},
        records=int(d.records.starts.shape[0])
        + d.records.unsupported_blocks
        + d.records.truncated_tail,
        datagrams=int(d.udp.shape[0]),
        bytes_read=d.bytes_read,
        total_bytes=total,
    )


# --- writing ---------------------------------------------------------------------------------

_LINK_ETHERNET = 1
_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, _LINK_ETHERNET)


class PcapWriter:
    """Writes batches to a pcap file (Ethernet link, microsecond timestamps), one write each."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close() / the context manager
        self._file.write(_PCAP_HEADER)
        self.packets = 0

    def write(self, batch: PacketBatch) -> None:
        """Append every packet of ``batch`` as an Ethernet/IP/UDP/RTP frame."""
        for lo in range(0, len(batch), _WRITE_ROWS):  # cache-sized pieces
            self._file.write(encode_records(rows(batch, lo, lo + _WRITE_ROWS)).data)
        self.packets += len(batch)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_pcap(path: str | os.PathLike[str], batch: PacketBatch) -> None:
    """Write ``batch`` to a new pcap file at ``path``, readable by Wireshark/tshark as RTP."""
    with PcapWriter(path) as writer:
        writer.write(batch)
