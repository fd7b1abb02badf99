"""RTP (RFC 3550) packets: one at a time for inspection, in bulk for the hot path.

:func:`parse_rtp` and :func:`build_rtp` handle a single datagram as a frozen :class:`RtpHeader`.
:func:`decode_columns` and :func:`serialize` do the same for many datagrams at once with numpy,
so ingest and output cost a few array operations instead of a Python object per packet;
:func:`batch_from_datagrams` turns raw UDP payloads and their addresses into a batch.

RTCP shares the ports and the version of RTP; RFC 5761 tells them apart by the second byte:
RTCP packet types 192-223 read as the marker bit set with payload types 64-95, which RTP must
not use. Such datagrams are refused as RTCP. Padding is validated and stripped: a
:class:`~commex.stream.packets.PacketBatch` keeps payloads without padding, and the writers
emit none.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I32, I64, U8, U16, U32, Bools, PacketBatch, StreamKey
from commex.stream.ragged import be16, byte_at, gather_spans, interleave, windows
from commex.stream.streamtable import StreamTable, address_bytes, key_rows

RTP_VERSION = 2
HEADER_SIZE = 12
_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")


class MalformedPacket(InvalidInput):
    """Raised when bytes are not a well-formed RTP packet (truncated, bad version, RTCP, ...)."""

    code = "malformed_packet"


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """One parsed RTP packet: the fixed header, CSRCs, header extension, payload and padding."""

    version: int
    padding: bool
    extension: bool
    csrc_count: int
    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""
    payload: bytes = b""
    padding_bytes: int = 0


def is_rtcp_type(second_byte: int) -> bool:
    """Whether an RTP/RTCP second byte is an RTCP packet type (192-223, RFC 5761)."""
    return 192 <= second_byte <= 223


def parse_rtp(data: bytes) -> RtpHeader:
    """Parse one RTP datagram; anything else raises :class:`MalformedPacket` saying why."""
    size = len(data)
    if size < HEADER_SIZE:
        raise MalformedPacket(f"RTP packet too short: {size} bytes, need at least {HEADER_SIZE}")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
    version = b0 >> 6
    if version != RTP_VERSION:
        raise MalformedPacket(f"not RTP: version {version}, expected {RTP_VERSION}")
    if is_rtcp_type(b1):
        raise MalformedPacket(f"RTCP packet (type {b1}), not RTP")
    cc = b0 & 0x0F
    pos = HEADER_SIZE + 4 * cc
    if pos > size:
        raise MalformedPacket(f"RTP packet truncated in its CSRC list ({cc} CSRCs, {size} bytes)")
    csrcs = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE) if cc else ()
    profile: int | None = None
    ext_data = b""
    if b0 & 0x10:
        if pos + 4 > size:
            raise MalformedPacket("RTP packet truncated in its header extension")
        profile, words = _EXT.unpack_from(data, pos)
        end = pos + 4 + 4 * words
        if end > size:
            raise MalformedPacket(
                f"RTP header extension of {4 * words} bytes runs past the packet end"
            )
        ext_data = bytes(data[pos + 4 : end])
        pos = end
    pad = 0
    if b0 & 0x20:
        if size == pos:
            raise MalformedPacket("RTP padding bit set but no padding byte")
        pad = data[-1]
        if pad == 0 or pos + pad > size:
            raise MalformedPacket(f"invalid RTP padding count {pad}")
    return RtpHeader(
        version=version,
        padding=bool(b0 & 0x20),
        extension=bool(b0 & 0x10),
        csrc_count=cc,
        marker=bool(b1 & 0x80),
        payload_type=b1 & 0x7F,
        sequence_number=seq,
        timestamp=ts,
        ssrc=ssrc,
        csrcs=tuple(csrcs),
        extension_profile=profile,
        extension_data=ext_data,
        payload=bytes(data[pos : size - pad]),
        padding_bytes=pad,
    )


def build_rtp(
    *,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes = b"",
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension_profile: int | None = None,
    extension_data: bytes = b"",
    padding: int = 0,
) -> bytes:
    """Write one RTP packet; a field out of range raises :class:`InvalidInput` naming it."""
    check_range("payload_type", payload_type, 0, 127)
    check_range("sequence_number", sequence_number, 0, 0xFFFF)
    check_range("timestamp", timestamp, 0, 0xFFFFFFFF)
    check_range("ssrc", ssrc, 0, 0xFFFFFFFF)
    check_range("padding", padding, 0, 255)
    if len(csrcs) > 15:
        raise InvalidInput(f"at most 15 CSRCs, got {len(csrcs)}", field="csrcs")
    for c in csrcs:
        check_range("csrcs", c, 0, 0xFFFFFFFF)
    if len(extension_data) % 4 or len(extension_data) > 4 * 0xFFFF:
        raise InvalidInput("header extension must be a multiple of 4 bytes", field="extension")
    if extension_profile is not None:
        check_range("extension_profile", extension_profile, 0, 0xFFFF)
    b0 = 0x80 | len(csrcs)
    if padding:
        b0 |= 0x20
    if extension_profile is not None:
        b0 |= 0x10
    b1 = payload_type | (0x80 if marker else 0)
    if is_rtcp_type(b1):
        raise InvalidInput(
            f"payload type {payload_type} with the marker bit reads as RTCP", field="payload_type"
        )
    parts = [_FIXED.pack(b0, b1, sequence_number, timestamp, ssrc)]
    if csrcs:
        parts.append(struct.pack(f"!{len(csrcs)}I", *csrcs))
    if extension_profile is not None:
        parts.append(_EXT.pack(extension_profile, len(extension_data) // 4) + extension_data)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes([padding]))
    return b"".join(parts)


def check_range(name: str, value: int, low: int, high: int) -> None:
    """Refuse a header field outside ``low..high`` with an :class:`InvalidInput` naming it."""
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}, got {value}", field=name)


@dataclass(frozen=True, slots=True)
class RtpColumns:
    """RTP header fields of many datagrams, decoded at once; ``ok`` marks the valid RTP ones.

    ``header_end`` and ``payload_end`` are absolute offsets into the buffer that was decoded;
    the CSRC list and extension are ``[start + 12, header_end)``, the payload (without
    padding) ``[header_end, payload_end)``. Fields of rows that are not ``ok`` are meaningless.
    """

    ok: Bools
    seq: U16
    timestamp: U32
    ssrc: U32
    payload_type: U8
    marker: Bools
    csrc_count: U8
    has_extension: Bools
    header_end: I64
    payload_end: I64


def decode_columns(buf: U8, starts: I64, lengths: I64, *, head: U8 | None = None) -> RtpColumns:
    """Decode the RTP headers of the datagrams ``buf[starts[i]:starts[i] + lengths[i]]``.

    Datagrams that are too short, not version 2, RTCP, or with inconsistent CSRC, extension or
    padding lengths get ``ok == False``; nothing raises, whatever the bytes. ``head`` may give
    the first 12 bytes of every datagram when the caller already has them.
    """
    win = windows(buf, starts, HEADER_SIZE) if head is None else head
    end = starts + lengths
    b0 = win[:, 0]
    b1 = win[:, 1]
    cc = (b0 & 0x0F).astype(np.int64)
    has_ext = (b0 & 0x10) != 0
    has_pad = (b0 & 0x20) != 0
    ok = (lengths >= HEADER_SIZE) & ((b0 >> 6) == RTP_VERSION) & ~((b1 >= 192) & (b1 <= 223))
    hdr = starts + HEADER_SIZE + 4 * cc
    ext = np.flatnonzero(has_ext)
    if ext.shape[0]:
        ok[ext] &= hdr[ext] + 4 <= end[ext]
        hdr[ext] += 4 + 4 * be16(buf, hdr[ext] + 2)
    ok &= hdr <= end
    pad = np.zeros(starts.shape[0], dtype=np.int64)
    padded = np.flatnonzero(has_pad)
    if padded.shape[0]:
        pad[padded] = byte_at(buf, end[padded] - 1)
        ok[padded] &= (pad[padded] > 0) & (hdr[padded] + pad[padded] <= end[padded])
    return RtpColumns(
        ok=ok,
        seq=win[:, 2:4].copy().view(">u2").ravel().astype(np.uint16),
        timestamp=win[:, 4:8].copy().view(">u4").ravel().astype(np.uint32),
        ssrc=win[:, 8:12].copy().view(">u4").ravel().astype(np.uint32),
        payload_type=(b1 & 0x7F).astype(np.uint8),
        marker=(b1 & 0x80) != 0,
        csrc_count=(b0 & 0x0F).astype(np.uint8),
        has_extension=has_ext,
        header_end=hdr,
        payload_end=end - pad,
    )


def columns_to_batch(
    buf: U8,
    starts: I64,
    cols: RtpColumns,
    rows: I64,
    *,
    index: I64,
    stream: I32,
    arrival_us: I64,
    streams: tuple[StreamKey, ...],
) -> PacketBatch:
    """A batch of the decoded datagrams ``rows`` (valid ones), with their index and stream."""
    s = starts[rows]
    hdr = cols.header_end[rows]
    payload, offsets = gather_spans(buf, hdr, cols.payload_end[rows] - hdr)
    extra, extra_offsets = gather_spans(buf, s + HEADER_SIZE, hdr - s - HEADER_SIZE)
    return PacketBatch(
        index=index.astype(np.int64, copy=False),
        stream=stream.astype(np.int32, copy=False),
        arrival_us=arrival_us.astype(np.int64, copy=False),
        seq=cols.seq[rows],
        timestamp=cols.timestamp[rows],
        ssrc=cols.ssrc[rows],
        payload_type=cols.payload_type[rows],
        marker=cols.marker[rows],
        csrc_count=cols.csrc_count[rows],
        has_extension=cols.has_extension[rows],
        payload=payload,
        offsets=offsets,
        header_extra=extra,
        extra_offsets=extra_offsets,
        streams=streams,
    )


def rtp_sizes(batch: PacketBatch) -> I64:
    """The size in bytes of every packet of ``batch`` written as an RTP datagram."""
    return HEADER_SIZE + np.diff(batch.extra_offsets) + np.diff(batch.offsets)


def fixed_headers(batch: PacketBatch) -> U8:
    """The 12-byte fixed RTP header of every packet, as an ``(n, 12)`` array."""
    n = len(batch)
    head = np.empty((n, HEADER_SIZE), dtype=np.uint8)
    head[:, 0] = 0x80 | (batch.csrc_count & 0x0F) | (batch.has_extension.astype(np.uint8) << 4)
    head[:, 1] = (batch.payload_type & 0x7F) | (batch.marker.astype(np.uint8) << 7)
    head[:, 2:4] = batch.seq.astype(">u2").view(np.uint8).reshape(n, 2)
    head[:, 4:8] = batch.timestamp.astype(">u4").view(np.uint8).reshape(n, 4)
    head[:, 8:12] = batch.ssrc.astype(">u4").view(np.uint8).reshape(n, 4)
    return head


def rtp_parts(batch: PacketBatch) -> list[tuple[U8, I64]]:
    """The pieces of every packet's datagram for :func:`interleave`: fixed header, CSRCs and
    extension, payload."""
    n = len(batch)
    return [
        (fixed_headers(batch).ravel(), np.full(n, HEADER_SIZE, dtype=np.int64)),
        (batch.header_extra, np.diff(batch.extra_offsets)),
        (batch.payload, np.diff(batch.offsets)),
    ]


def serialize(batch: PacketBatch) -> tuple[U8, I64]:
    """All packets of ``batch`` as RTP datagrams in one buffer; datagram i is
    ``buffer[offsets[i]:offsets[i + 1]]``."""
    offsets = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(rtp_sizes(batch), out=offsets[1:])
    return interleave(rtp_parts(batch)), offsets


def datagrams(batch: PacketBatch) -> list[bytes]:
    """Every packet of ``batch`` as RTP datagram bytes, in row order (for sockets)."""
    out, offsets = serialize(batch)
    raw = out.tobytes()
    bounds = offsets.tolist()
    return [raw[bounds[i] : bounds[i + 1]] for i in range(len(batch))]


Address = tuple[str, int]
_address = lru_cache(maxsize=4096)(address_bytes)


def _as_v6(address: tuple[bytes, bool], v6: bool) -> bytes:
    """The 16 address bytes; an IPv4 address in an IPv6 key becomes ``::ffff:a.b.c.d``."""
    raw, is_v6 = address
    return raw[:10] + b"\xff\xff" + raw[12:] if v6 and not is_v6 else raw


def _key_rows(
    sources: Sequence[Address], dests: Sequence[Address], picked: list[int], ssrc: U32
) -> U8:
    """The stream key rows of the datagrams ``picked``."""
    n = len(picked)
    src = [_address(sources[i][0].split("%", 1)[0]) for i in picked]
    dst = [_address(dests[i][0].split("%", 1)[0]) for i in picked]
    v6 = [a[1] or b[1] for a, b in zip(src, dst, strict=True)]
    return key_rows(
        np.frombuffer(
            b"".join(_as_v6(a, m) for a, m in zip(src, v6, strict=True)), np.uint8
        ).reshape(n, 16),
        np.frombuffer(
            b"".join(_as_v6(a, m) for a, m in zip(dst, v6, strict=True)), np.uint8
        ).reshape(n, 16),
        is_v6=np.array(v6, dtype=np.bool_),
        sport=np.array([sources[i][1] for i in picked], dtype=np.int64),
        dport=np.array([dests[i][1] for i in picked], dtype=np.int64),
        ssrc=ssrc.astype(np.int64),
    )


def batch_from_datagrams(
    payloads: Sequence[bytes],
    sources: Sequence[Address],
    destination: Address | Sequence[Address],
    *,
    arrival_us: Sequence[int] | None = None,
    first_index: int = 0,
    table: StreamTable | None = None,
) -> tuple[PacketBatch, int]:
    """The RTP packets among raw UDP payloads, and how many payloads were not RTP.

    Payload ``i`` came from ``sources[i]`` to ``destination`` (one address, or one per
    payload); its packet gets index ``first_index + i``. Streams are numbered by ``table``
    (a fresh one accepting a stream from its first packet when not given), so a caller that
    receives continuously passes the same table every time.
    """
    if table is None:
        table = StreamTable(min_packets=1)
    n_all = len(payloads)
    sizes = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n_all)
    starts = np.zeros(n_all, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    cols = decode_columns(buf, starts, sizes)
    rows = np.flatnonzero(cols.ok)
    picked = rows.tolist()
    n = len(picked)
    dests: Sequence[Address]
    if isinstance(destination[0], str):
        dests = [(destination[0], int(destination[1]))] * n_all  # type: ignore[arg-type]
    else:
        dests = destination  # type: ignore[assignment]
    keys = _key_rows(sources, dests, picked, cols.ssrc[rows])
    table.count(keys)
    arrival = np.zeros(n, dtype=np.int64)
    if arrival_us is not None:
        arrival = np.asarray(arrival_us, dtype=np.int64)[rows]
    batch = columns_to_batch(
        buf,
        starts,
        cols,
        rows,
        index=first_index + rows,
        stream=table.assign(keys),
        arrival_us=arrival,
        streams=table.streams,
    )
    return batch, n_all - n
