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
    if buf.shape[0] == 0:
        return np.zeros(at.shape, dtype=np.int64)
    hi = np.take(buf, at, mode="clip").astype(np.int64)
    lo = np.take(buf, at + 1, mode="clip")
    value: I64 = (hi << 8) | lo
    return value


def be32(buf: U8, at: I64) -> I64:
    """Big-endian 32-bit values at byte offsets ``at`` (clipped, never raising)."""
    return (be16(buf, at) << 16) | be16(buf, at + 2)


def byte_at(buf: U8, at: I64) -> I64:
    """The bytes at offsets ``at`` as int64 (clipped, never raising)."""
    if buf.shape[0] == 0:
        return np.zeros(at.shape, dtype=np.int64)
    return np.take(buf, at, mode="clip").astype(np.int64)


def span_index(starts: I64, sizes: I64, total: int) -> I64:
    """Buffer position of every byte of the spans laid end to end (one cumsum, no repeat)."""
    nz = sizes > 0
    st, sz = starts[nz], sizes[nz]
    step = np.ones(total, dtype=np.int64)
    step[0] = st[0]
    step[np.cumsum(sz[:-1])] = st[1:] - (st[:-1] + sz[:-1]) + 1
    index: I64 = np.cumsum(step)
    return index


def _span_mask(length: int, starts: I64, sizes: I64, total: int) -> Bools | None:
    """The mask of bytes covered by the spans when they are in order without overlap and cover
    a good part of the buffer (then a mask beats an index); else None. The mask stops at the
    last span's end. The mask is one
    ``repeat`` of alternating gap/span flags, the fastest way numpy has to mark many ranges."""
    if total * 4 < length:
        return None
    ends = starts + sizes
    gaps = np.empty(starts.shape[0], dtype=np.int64)
    gaps[0] = starts[0]
    np.subtract(starts[1:], ends[:-1], out=gaps[1:])
    if gaps.min() < 0:
        return None
    counts = np.empty(2 * starts.shape[0], dtype=np.int64)
    counts[0::2] = gaps
    counts[1::2] = sizes
    flags = np.zeros(2 * starts.shape[0], dtype=np.bool_)
    flags[1::2] = True
    mask: Bools = np.repeat(flags, counts)  # as long as the last span's end
    return mask


def gather_spans(buf: U8, starts: I64, sizes: I64) -> tuple[U8, I64]:
    """Concatenate ``buf[starts[i]:starts[i] + sizes[i]]`` for every i; returns bytes, offsets."""
    offsets = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint8), offsets
    mask = _span_mask(buf.shape[0], starts, sizes, total)
    if mask is not None:
        return buf[: mask.shape[0]][mask], offsets
    return buf[span_index(starts, sizes, total)], offsets


def scatter_spans(out: U8, dest: I64, data: U8, offsets: I64) -> None:
    """Copy row ``i`` of the ragged ``data``/``offsets`` into ``out`` at ``dest[i]``."""
    sizes = np.diff(offsets)
    total = int(offsets[-1]) - int(offsets[0])
    if total == 0:
        return
    source = data[offsets[0] : offsets[-1]]
    mask = _span_mask(out.shape[0], dest, sizes, total)
    if mask is not None:
        out[: mask.shape[0]][mask] = source
    else:
        out[span_index(dest, sizes, total)] = source


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


def windows(buf: U8, at: I64, width: int) -> U8:
    """``buf[at[i]:at[i] + width]`` for every i as an ``(n, width)`` array, zero past the end.

    One row copy per datagram instead of one scattered read per header field: after this,
    header fields at fixed offsets are plain column slices.
    """
    size = buf.shape[0]
    if size < width:
        out = np.zeros((at.shape[0], width), dtype=np.uint8)
        outside = np.ones(at.shape[0], dtype=np.bool_)
    else:
        view = np.lib.stride_tricks.as_strided(
            buf, shape=(size - width + 1, width), strides=(1, 1), writeable=False
        )
        clipped = np.minimum(np.maximum(at, 0), size - width)
        out = np.asarray(view[clipped], dtype=np.uint8)
        outside = at != clipped
        if not outside.any():
            return out
    bad = np.flatnonzero(outside)
    out[bad] = 0
    # Rows that start within the last ``width`` bytes (a handful at most) are copied one by one.
    for i in bad[(at[bad] >= 0) & (at[bad] < size)].tolist():
        tail = buf[int(at[i]) : int(at[i]) + width]
        out[i, : tail.shape[0]] = tail
    return out


def col16(win: U8, col: int) -> I64:
    """Big-endian 16-bit values at column ``col`` of a :func:`windows` array."""
    value: I64 = (win[:, col].astype(np.int64) << 8) | win[:, col + 1]
    return value


def col32(win: U8, col: int) -> I64:
    """Big-endian 32-bit values at column ``col`` of a :func:`windows` array."""
    return (col16(win, col) << 16) | col16(win, col + 2)


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


def interleave(parts: list[tuple[U8, I64]]) -> U8:
    """Row by row, the concatenation of every part's row: part ``k`` is ragged bytes and its
    per-row sizes. One ``repeat`` labels each output byte with its part, so every part is
    placed with one masked assignment, whatever the number of rows."""
    parts = [(data, sizes) for data, sizes in parts if data.shape[0]]
    if not parts:
        return np.zeros(0, dtype=np.uint8)
    out = np.empty(sum(int(d.shape[0]) for d, _ in parts), dtype=np.uint8)
    if len(parts) == 1:
        out[:] = parts[0][0]
        return out
    n = parts[0][1].shape[0]
    counts = np.stack([sizes for _, sizes in parts], axis=1).ravel()
    labels = np.repeat(np.tile(np.arange(len(parts), dtype=np.uint8), n), counts)
    if len(parts) == 2:
        first = labels == 0
        out[first] = parts[0][0]
        out[~first] = parts[1][0]
        return out
    for k, (data, _) in enumerate(parts):
        out[labels == k] = data
    return out


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


def _group(rows: U8) -> tuple[list[bytes], I64, I64]:
    """Distinct key rows (in sorted order), the first row of each, and each row's group.

    Grouping by ports and SSRC as one integer is far cheaper than comparing 41-byte rows; it
    is exact when every group also agrees on the addresses, which is checked, else the rows
    are compared whole.
    """
    short = np.ascontiguousarray(rows[:, 33:]).view(">u8").ravel()
    _, first, inverse = np.unique(short, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not bool((rows[:, :33] == rows[first[inverse], :33]).all()):
        void = np.ascontiguousarray(rows).view(f"V{KEY_SIZE}").ravel()
        _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    keys = [rows[i].tobytes() for i in first.tolist()]
    return keys, first.astype(np.int64), inverse.astype(np.int64)


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
        # count() and assign() see the same rows of a chunk: group them once.
        self._memo: list[tuple[U8, tuple[list[bytes], I64, I64]]] = []

    def _unique(self, rows: U8) -> tuple[list[bytes], I64, I64]:
        for seen, groups in self._memo:
            if seen is rows:
                return groups
        groups = _group(rows)
        self._memo = [*self._memo[-1:], (rows, groups)]
        return groups

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
