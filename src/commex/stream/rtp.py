"""RTP (RFC 3550) packets: one at a time for inspection, in bulk for the hot path.

:func:`parse_rtp` and :func:`build_rtp` handle a single datagram as a frozen :class:`RtpHeader`.
:func:`decode_columns` and :func:`serialize` do the same for many datagrams at once with numpy,
so ingest and output cost a few array operations instead of a Python object per packet.

RTCP shares the ports and the version of RTP; RFC 5761 tells them apart by the second byte:
RTCP packet types 192-223 read as the marker bit set with payload types 64-95, which RTP must
not use. Such datagrams are refused as RTCP. Padding is validated and stripped: a
:class:`~commex.stream.packets.PacketBatch` keeps payloads without padding, and the writers
emit none.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I32, I64, U8, U16, U32, Bools, PacketBatch, StreamKey

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
    _check_range("payload_type", payload_type, 0, 127)
    _check_range("sequence_number", sequence_number, 0, 0xFFFF)
    _check_range("timestamp", timestamp, 0, 0xFFFFFFFF)
    _check_range("ssrc", ssrc, 0, 0xFFFFFFFF)
    _check_range("padding", padding, 0, 255)
    if len(csrcs) > 15:
        raise InvalidInput(f"at most 15 CSRCs, got {len(csrcs)}", field="csrcs")
    for c in csrcs:
        _check_range("csrcs", c, 0, 0xFFFFFFFF)
    if len(extension_data) % 4 or len(extension_data) > 4 * 0xFFFF:
        raise InvalidInput("header extension must be a multiple of 4 bytes", field="extension")
    if extension_profile is not None:
        _check_range("extension_profile", extension_profile, 0, 0xFFFF)
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


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}, got {value}", field=name)


# --- bulk path -------------------------------------------------------------------------------


def be16(buf: U8, at: I64) -> I64:
    """Big-endian 16-bit values at byte offsets ``at`` (clipped to the buffer, never raising)."""
    n = buf.shape[0]
    if n < 2:
        return np.zeros(at.shape, dtype=np.int64)
    at = np.clip(at, 0, n - 2)
    return (buf[at].astype(np.int64) << 8) | buf[at + 1]


def be32(buf: U8, at: I64) -> I64:
    """Big-endian 32-bit values at byte offsets ``at`` (clipped, never raising)."""
    return (be16(buf, at) << 16) | be16(buf, at + 2)


def byte_at(buf: U8, at: I64) -> I64:
    """The bytes at offsets ``at`` as int64 (clipped, never raising)."""
    if buf.shape[0] == 0:
        return np.zeros(at.shape, dtype=np.int64)
    return buf[np.clip(at, 0, buf.shape[0] - 1)].astype(np.int64)


def gather_spans(buf: U8, starts: I64, sizes: I64) -> tuple[U8, I64]:
    """Concatenate ``buf[starts[i]:starts[i] + sizes[i]]`` for every i; returns bytes, offsets."""
    offsets = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint8), offsets
    row = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
    src = np.arange(total, dtype=np.int64) + (starts - offsets[:-1])[row]
    return buf[src], offsets


def scatter_spans(out: U8, dest: I64, data: U8, offsets: I64) -> None:
    """Copy row ``i`` of the ragged ``data``/``offsets`` into ``out`` at ``dest[i]``."""
    sizes = np.diff(offsets)
    total = int(offsets[-1]) - int(offsets[0])
    if total == 0:
        return
    row = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
    pos = np.arange(total, dtype=np.int64) + (dest - offsets[:-1] + offsets[0])[row]
    out[pos] = data[offsets[0] : offsets[-1]]


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


def decode_columns(buf: U8, starts: I64, lengths: I64) -> RtpColumns:
    """Decode the RTP headers of the datagrams ``buf[starts[i]:starts[i] + lengths[i]]``.

    Datagrams that are too short, not version 2, RTCP, or with inconsistent CSRC, extension or
    padding lengths get ``ok == False``; nothing raises, whatever the bytes.
    """
    end = starts + lengths
    b0 = byte_at(buf, starts)
    b1 = byte_at(buf, starts + 1)
    cc = b0 & 0x0F
    has_ext = (b0 & 0x10) != 0
    has_pad = (b0 & 0x20) != 0
    ok = (lengths >= HEADER_SIZE) & ((b0 >> 6) == RTP_VERSION) & ~((b1 >= 192) & (b1 <= 223))
    hdr = starts + HEADER_SIZE + 4 * cc
    ext_words = np.where(has_ext, be16(buf, hdr + 2), 0)
    ok &= ~has_ext | (hdr + 4 <= end)
    hdr = hdr + np.where(has_ext, 4 + 4 * ext_words, 0)
    ok &= hdr <= end
    pad = np.where(has_pad, byte_at(buf, end - 1), 0)
    ok &= ~has_pad | ((pad > 0) & (hdr + pad <= end))
    return RtpColumns(
        ok=ok,
        seq=be16(buf, starts + 2).astype(np.uint16),
        timestamp=be32(buf, starts + 4).astype(np.uint32),
        ssrc=be32(buf, starts + 8).astype(np.uint32),
        payload_type=(b1 & 0x7F).astype(np.uint8),
        marker=(b1 & 0x80) != 0,
        csrc_count=cc.astype(np.uint8),
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


def write_into(out: U8, at: I64, batch: PacketBatch) -> None:
    """Write every packet of ``batch`` as an RTP datagram into ``out`` starting at ``at[i]``."""
    if len(batch) == 0:
        return
    b0 = (
        0x80
        | (batch.csrc_count.astype(np.int64) & 0x0F)
        | (batch.has_extension.astype(np.int64) << 4)
    )
    b1 = batch.payload_type.astype(np.int64) & 0x7F | (batch.marker.astype(np.int64) << 7)
    seq = batch.seq.astype(np.int64)
    ts = batch.timestamp.astype(np.int64)
    ssrc = batch.ssrc.astype(np.int64)
    fields = (
        b0,
        b1,
        seq >> 8,
        seq,
        ts >> 24,
        ts >> 16,
        ts >> 8,
        ts,
        ssrc >> 24,
        ssrc >> 16,
        ssrc >> 8,
        ssrc,
    )
    for k, value in enumerate(fields):
        out[at + k] = value & 0xFF
    scatter_spans(out, at + HEADER_SIZE, batch.header_extra, batch.extra_offsets)
    scatter_spans(
        out, at + HEADER_SIZE + np.diff(batch.extra_offsets), batch.payload, batch.offsets
    )


def serialize(batch: PacketBatch) -> tuple[U8, I64]:
    """All packets of ``batch`` as RTP datagrams in one buffer; datagram i is
    ``buffer[offsets[i]:offsets[i + 1]]``."""
    sizes = rtp_sizes(batch)
    offsets = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    out = np.zeros(int(offsets[-1]), dtype=np.uint8)
    write_into(out, offsets[:-1], batch)
    return out, offsets


def datagrams(batch: PacketBatch) -> list[bytes]:
    """Every packet of ``batch`` as RTP datagram bytes, in row order (for sockets)."""
    out, offsets = serialize(batch)
    raw = out.tobytes()
    bounds = offsets.tolist()
    return [raw[bounds[i] : bounds[i + 1]] for i in range(len(batch))]


# --- stream table ----------------------------------------------------------------------------

KEY_SIZE = 41  # v6 flag, source and destination address (16 each), ports (2 each), SSRC (4)


def key_rows(src: U8, dst: U8, *, is_v6: Bools, sport: I64, dport: I64, ssrc: I64) -> U8:
    """Pack per-datagram stream identities into rows of :data:`KEY_SIZE` bytes.

    ``src`` and ``dst`` are ``(n, 16)`` address bytes; an IPv4 address sits in the last four.
    """
    n = src.shape[0]
    rows = np.empty((n, KEY_SIZE), dtype=np.uint8)
    rows[:, 0] = is_v6
    rows[:, 1:17] = src
    rows[:, 17:33] = dst
    for col, (value, width) in enumerate(((sport, 2), (dport, 2), (ssrc, 4))):
        base = 33 + (0, 2, 4)[col]
        for k in range(width):
            rows[:, base + k] = (value >> (8 * (width - 1 - k))) & 0xFF
    return rows


def address_bytes(host: str) -> tuple[bytes, bool]:
    """An IP address as 16 bytes (IPv4 in the last four) and whether it is IPv6."""
    addr = ipaddress.ip_address(host)
    if addr.version == 4:
        return bytes(12) + addr.packed, False
    return addr.packed, True


def _key_of(raw: bytes) -> StreamKey:
    v6 = raw[0] == 1

    def host(b: bytes) -> str:
        return str(ipaddress.IPv6Address(b) if v6 else ipaddress.IPv4Address(b[12:]))

    return StreamKey(
        src=host(raw[1:17]),
        src_port=int.from_bytes(raw[33:35], "big"),
        dst=host(raw[17:33]),
        dst_port=int.from_bytes(raw[35:37], "big"),
        ssrc=int.from_bytes(raw[37:41], "big"),
    )


class StreamTable:
    """Numbers RTP streams in order of appearance; the table only ever grows.

    A stream is a UDP 5-tuple with one SSRC. It is accepted once ``min_packets`` valid RTP
    datagrams of it were counted (:meth:`count`), which keeps other UDP traffic that happens to
    look like RTP version 2 (UDPTL/T.38, whose "SSRC" bytes change every packet) out.
    """

    def __init__(self, min_packets: int = 1) -> None:
        self.min_packets = min_packets
        self._ids: dict[bytes, int] = {}
        self._seen: dict[bytes, int] = {}
        self.keys: list[StreamKey] = []

    @staticmethod
    def _unique(rows: U8) -> tuple[list[bytes], I64, I64]:
        void = np.ascontiguousarray(rows).view(f"V{KEY_SIZE}").ravel()
        uniq, first, inverse = np.unique(void, return_index=True, return_inverse=True)
        return [u.tobytes() for u in uniq], first.astype(np.int64), inverse.astype(np.int64)

    def count(self, rows: U8) -> None:
        """Count candidate datagrams (rows of :func:`key_rows`) towards their stream's quota."""
        if rows.shape[0] == 0:
            return
        keys, _, inverse = self._unique(rows)
        counts = np.bincount(inverse, minlength=len(keys))
        for key, c in zip(keys, counts.tolist(), strict=True):
            self._seen[key] = self._seen.get(key, 0) + c

    def assign(self, rows: U8) -> I32:
        """Stream ids of the rows; ``-1`` where the stream has not (yet) enough packets.

        New streams get ids in order of their first row, so ids follow the input order.
        """
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.int32)
        keys, first, inverse = self._unique(rows)
        ids = np.full(len(keys), -1, dtype=np.int32)
        for j in np.argsort(first, kind="stable").tolist():
            key = keys[j]
            known = self._ids.get(key)
            if known is None and self._seen.get(key, 0) >= self.min_packets:
                known = self._ids[key] = len(self.keys)
                self.keys.append(_key_of(key))
            if known is not None:
                ids[j] = known
        return ids[inverse]

    @property
    def streams(self) -> tuple[StreamKey, ...]:
        """The table as known so far; earlier ids never change."""
        return tuple(self.keys)
