"""Read RTP streams out of pcap and pcapng captures, and write batches back as pcap.

Speed comes from never building a Python object per packet: a tight loop finds where each
record starts, and numpy decodes the link, IP, UDP and RTP headers of all records at once;
the writer lays out every frame of a batch in one buffer and writes it with one call.

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
from typing import BinaryIO

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.frames import (
    FRAGMENT,
    MALFORMED,
    NOT_UDP,
    SUPPORTED_LINK_TYPES,
    TRUNCATED,
    UDP,
    addresses,
    decode_frames,
    encode_records,
)
from commex.stream.packets import I64, U8, PacketBatch, concat
from commex.stream.rtp import (
    RtpColumns,
    StreamTable,
    be32,
    byte_at,
    columns_to_batch,
    decode_columns,
    key_rows,
)

DEFAULT_CHUNK = 2 << 20
_CACHE_CHUNK = 1 << 20  # decoding works best on chunks that stay in the CPU cache
_WRITE_ROWS = 8192
MIN_STREAM_PACKETS = 3
_MAX_RECORD = 1 << 24
_PCAPNG_SHB = 0x0A0D0D0A


class UnsupportedCapture(InvalidInput):
    """Raised when a capture uses a link type or format variant commex cannot read."""

    code = "unsupported_capture"


class MalformedCapture(InvalidInput):
    """Raised when a file is not a pcap/pcapng capture or its record structure is corrupt."""

    code = "malformed_capture"


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
        for records, bytes_read in _read_records(f, _CACHE_CHUNK):
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
class _Records:
    """Raw records of one chunk: frame bytes at ``starts`` and the per-record metadata."""

    buf: np.ndarray
    starts: I64
    caplen: I64
    arrival_us: I64
    link: I64
    unsupported_blocks: int = 0
    truncated_tail: int = 0


@dataclass
class _Decoded:
    """A chunk decoded down to RTP candidates, waiting for the next chunk's stream counts."""

    records: _Records
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
        for records, bytes_read in _read_records(f, max(chunk, 1 << 16)):
            decoded = _decode(records, next_index, bytes_read)
            next_index += int(records.starts.shape[0])
            table.count(decoded.keys)
            if pending is not None:
                yield _finish(pending, table, total)
            pending = decoded
        if pending is not None:
            yield _finish(pending, table, total)


def _decode(records: _Records, first_index: int, bytes_read: int) -> _Decoded:
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


def _read_records(f: BinaryIO, chunk: int) -> Iterator[tuple[_Records, int]]:
    head = f.read(24)
    if head[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _PcapngReader(f, head, chunk).chunks()
        return
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1),
        b"\xa1\xb2\xc3\xd4": (">", 1),
        b"\x4d\x3c\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\x3c\x4d": (">", 1000),
    }
    if head[:4] not in formats or len(head) < 24:
        raise MalformedCapture(
            f"not a pcap or pcapng file (starts with {head[:4].hex() or 'nothing'})"
        )
    order, per_us = formats[head[:4]]
    link = struct.unpack_from(order + "I", head, 20)[0] & 0xFFFF
    _check_links(np.array([link]))
    length_at = struct.Struct(order + "I").unpack_from
    read, rest = 24, b""
    while True:
        block = f.read(chunk)
        read += len(block)
        data = rest + block if rest else block
        offs: list[int] = []
        append = offs.append
        pos, n = 0, len(data)
        limit = n - 16
        while pos <= limit:  # the hot loop: one unpack per record
            append(pos)
            pos += 16 + length_at(data, pos + 8)[0]
        if pos > n:  # the last record runs past the data read so far
            pos = offs.pop()
        rest = data[pos:]
        if block and len(rest) >= 16 and length_at(rest, 8)[0] > _MAX_RECORD:
            raise MalformedCapture(f"corrupt pcap record header at byte {read - len(data) + pos}")
        if offs or (not block and rest):
            buf = np.frombuffer(data, dtype=np.uint8)
            at = np.asarray(offs, dtype=np.int64)
            head = buf[at[:, None] + np.arange(16)].view(order + "u4").astype(np.int64)
            arrival = head[:, 0] * 1_000_000 + head[:, 1] // per_us
            records = _Records(buf, at + 16, head[:, 2], arrival, np.full(at.shape, link))
            records.truncated_tail = int(not block and bool(rest))
            yield records, read
        if not block:
            return


def _le32(buf: U8, at: I64) -> I64:
    b = [byte_at(buf, at + k) for k in range(4)]
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)


def _check_links(links: I64) -> None:
    for link in np.unique(links).tolist():
        if link >= 0 and link not in SUPPORTED_LINK_TYPES:
            raise UnsupportedCapture(
                f"unsupported capture link type {link}; commex reads "
                + ", ".join(str(k) for k in sorted(SUPPORTED_LINK_TYPES)),
                field="link_type",
            )


class _PcapngReader:
    """Walks pcapng blocks: section headers, interface descriptions, enhanced/simple packets."""

    def __init__(self, f: BinaryIO, head: bytes, chunk: int) -> None:
        self.f, self.rest, self.chunk, self.read = f, head, chunk, len(head)
        self.order: str | None = None
        self.interfaces: list[tuple[int, int, int]] = []  # link type, tsresol byte, snaplen
        self.section_base = 0

    def chunks(self) -> Iterator[tuple[_Records, int]]:
        while True:
            block = self.f.read(self.chunk)
            self.read += len(block)
            data = self.rest + block if self.rest else block
            if not data:
                return
            records, pos = self._walk(data)
            self.rest = data[pos:]
            if not block:
                records.truncated_tail = int(bool(self.rest))
            yield records, self.read
            if not block:
                return

    def _walk(self, data: bytes) -> tuple[_Records, int]:
        epb: list[int] = []
        spb: list[int] = []
        sections: list[tuple[int, int]] = [(0, self.section_base)]
        unsupported = 0
        pos, n = 0, len(data)
        head = struct.Struct((self.order or "<") + "II").unpack_from
        while pos + 12 <= n:
            btype, blen = head(data, pos)
            if btype == _PCAPNG_SHB:
                order = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(
                    data[pos + 8 : pos + 12]
                )
                if order is None:
                    raise MalformedCapture(f"corrupt pcapng section header at byte {pos}")
                if self.order is not None and order != self.order:
                    raise UnsupportedCapture("pcapng sections of different byte orders")
                self.order = order
                head = struct.Struct(order + "II").unpack_from
                btype, blen = head(data, pos)
                self.section_base = len(self.interfaces)
                sections.append((pos, self.section_base))
            if blen < 12 or blen % 4 or blen > _MAX_RECORD:
                raise MalformedCapture(f"corrupt pcapng block of length {blen} at byte {pos}")
            if pos + blen > n:
                break
            if btype == 6:
                epb.append(pos)
            elif btype == 3:
                spb.append(pos)
            elif btype == 1:
                self._interface(data, pos, blen)
            elif btype == 2:
                unsupported += 1
            pos += blen
        records = self._records(data, epb, spb, sections)
        records.unsupported_blocks = unsupported
        return records, pos

    def _interface(self, data: bytes, pos: int, blen: int) -> None:
        order = self.order or "<"
        link, _, snaplen = struct.unpack_from(order + "HHI", data, pos + 8)
        tsresol, opt, end = 6, pos + 16, pos + blen - 4
        while opt + 4 <= end:
            code, size = struct.unpack_from(order + "HH", data, opt)
            if code == 0:
                break
            if code == 9 and size >= 1 and opt + 5 <= end:
                tsresol = data[opt + 4]
            opt += 4 + (size + 3) // 4 * 4
        self.interfaces.append((link, tsresol, snaplen))

    def _records(
        self, data: bytes, epb: list[int], spb: list[int], sections: list[tuple[int, int]]
    ) -> _Records:
        buf = np.frombuffer(data, dtype=np.uint8)
        get32 = _le32 if self.order != ">" else be32
        e = np.asarray(epb, dtype=np.int64)
        s = np.asarray(spb, dtype=np.int64)
        sec_pos = np.array([p for p, _ in sections], dtype=np.int64)
        sec_base = np.array([b for _, b in sections], dtype=np.int64)
        at = np.concatenate([e, s])
        base = sec_base[np.searchsorted(sec_pos, at, side="right") - 1]
        iface = base + np.concatenate([get32(buf, e + 8), np.zeros(s.shape, np.int64)])
        room = get32(buf, at + 4) - np.concatenate([np.full(e.shape, 32), np.full(s.shape, 16)])
        caplen = np.minimum(np.concatenate([get32(buf, e + 20), get32(buf, s + 8)]), room)
        ts = np.concatenate(
            [(get32(buf, e + 12) << 32) | get32(buf, e + 16), np.zeros(s.shape, np.int64)]
        )
        starts = np.concatenate([e + 28, s + 12])
        order = np.argsort(at, kind="stable")
        iface, caplen, ts, starts = iface[order], caplen[order], ts[order], starts[order]
        known = iface < len(self.interfaces)
        link = np.full(at.shape, -1, dtype=np.int64)
        arrival = np.zeros(at.shape, dtype=np.int64)
        for i in np.unique(iface[known]).tolist():
            rows = iface == i
            lt, resol, _ = self.interfaces[i]
            link[rows] = lt
            arrival[rows] = _to_us(ts[rows], resol)
        _check_links(link)
        return _Records(buf, starts, np.maximum(caplen, 0), arrival, link)


def _to_us(ts: I64, resol: int) -> I64:
    if resol & 0x80:
        shift = resol & 0x7F
        whole: I64 = (ts >> shift) * 1_000_000
        return whole + (((ts & ((1 << shift) - 1)) * 1_000_000) >> shift)
    scaled: I64 = ts // 10 ** (resol - 6) if resol >= 6 else ts * 10 ** (6 - resol)
    return scaled


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
            self._file.write(encode_records(_rows(batch, lo, lo + _WRITE_ROWS)).data)
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


def _rows(batch: PacketBatch, lo: int, hi: int) -> PacketBatch:
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


def write_pcap(path: str | os.PathLike[str], batch: PacketBatch) -> None:
    """Write ``batch`` to a new pcap file at ``path``, readable by Wireshark/tshark as RTP."""
    with PcapWriter(path) as writer:
        writer.write(batch)
