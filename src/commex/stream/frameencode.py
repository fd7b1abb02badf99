"""Ethernet/IP/UDP frames around RTP packets, laid out for many packets at once.

The pcap writer's encoder: each packet's record header, Ethernet, IPv4 or IPv6 and UDP
headers and its fixed RTP header are built as one row of a matrix, then rows, header
extensions and payloads are interleaved into one buffer. The decoder is
:mod:`commex.stream.frames`.
"""

from __future__ import annotations

import functools

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I64, U8, Bools, PacketBatch, StreamKey
from commex.stream.ragged import gather_spans, interleave
from commex.stream.rtp import fixed_headers, rtp_sizes
from commex.stream.streamtable import address_bytes

_MAC = bytes.fromhex("020000000002020000000001")  # locally administered dst, src
_ETH4 = np.frombuffer(_MAC + b"\x08\x00", dtype=np.uint8)
_ETH6 = np.frombuffer(_MAC + b"\x86\xdd", dtype=np.uint8)
_IP4 = np.frombuffer(bytes.fromhex("4500000000004000401100000000000000000000"), dtype=np.uint8)
_IP6 = np.frombuffer(bytes.fromhex("6000000000001140") + bytes(32), dtype=np.uint8)
_UDP = 17
_DEFAULT_KEY = StreamKey("192.0.2.1", 5004, "192.0.2.2", 5004, 0)


def _put(out: U8, at: I64, value: I64, width: int) -> None:
    for k in range(width):
        out[at + k] = (value >> (8 * (width - 1 - k))) & 0xFF


def _fold(total: I64) -> I64:
    for _ in range(3):
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _packed(host: str, stream: int) -> tuple[bytes, bool]:
    try:
        return address_bytes(host)
    except ValueError:
        raise InvalidInput(
            f"stream {stream} has address {host!r}, which is not an IP address", field="streams"
        ) from None


@functools.lru_cache(maxsize=8)
def _stream_columns(streams: tuple[StreamKey, ...]) -> tuple[Bools, U8, U8, I64, I64]:
    """Per stream (and a last default one): IPv6 or not, addresses, ports. A stream between
    an IPv4 and an IPv6 address is written as IPv6, with the IPv4 one mapped (::ffff:a.b.c.d).
    """
    keys = (*streams, _DEFAULT_KEY)
    packed = [(_packed(k.src, i), _packed(k.dst, i)) for i, k in enumerate(keys)]
    v6 = np.array([s[1] or d[1] for s, d in packed], dtype=np.bool_)

    def raw(address: tuple[bytes, bool], as_v6: bool) -> bytes:
        data, is_v6 = address
        return data[:10] + b"\xff\xff" + data[12:] if as_v6 and not is_v6 else data

    src = np.frombuffer(
        b"".join(raw(s, bool(m)) for (s, _), m in zip(packed, v6, strict=True)), dtype=np.uint8
    ).reshape(-1, 16)
    dst = np.frombuffer(
        b"".join(raw(d, bool(m)) for (_, d), m in zip(packed, v6, strict=True)), dtype=np.uint8
    ).reshape(-1, 16)
    sport = np.array([k.src_port for k in keys], dtype=np.int64)
    dport = np.array([k.dst_port for k in keys], dtype=np.int64)
    if ((sport < 0) | (sport > 0xFFFF) | (dport < 0) | (dport > 0xFFFF)).any():
        raise InvalidInput("a stream's UDP port is outside 0..65535", field="streams")
    return v6, src, dst, sport, dport


def _words(addr: U8) -> I64:
    wide = addr.astype(np.int64)
    words: I64 = (wide[:, 0::2] << 8).sum(axis=1) + wide[:, 1::2].sum(axis=1)
    return words


def _be16(matrix: U8, col: int, values: I64) -> None:
    """Columns ``col`` and ``col + 1`` of every row: ``values`` big-endian, modulo 65536
    (one strided store through a big-endian view, not two shifted byte stores)."""
    matrix[:, col : col + 2].view(">u2")[:, 0] = values.astype(np.uint16)


def encode_records(batch: PacketBatch) -> U8:
    """pcap records (little-endian, microseconds) of Ethernet/IP/UDP frames around each packet.

    Addresses and ports come from each packet's stream; a packet without a known stream gets
    192.0.2.1:5004 -> 192.0.2.2:5004. IPv4 headers carry a correct checksum and a zero UDP
    checksum (allowed for IPv4); IPv6 UDP datagrams carry their mandatory checksum. Every
    record's headers are built as one row of a matrix, then rows and payloads are interleaved.
    """
    n = len(batch)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    table = _stream_columns(batch.streams)
    known = len(batch.streams)
    sid = batch.stream.astype(np.int64)
    sid = np.where((sid >= 0) & (sid < known), sid, known)
    v6 = table[0][sid]
    udp_len = 8 + rtp_sizes(batch)
    frame = 14 + np.where(v6, 40, 20) + udp_len
    prefix = _prefixes(batch, table, sid, v6, udp_len, frame)
    prefix_len = np.where(v6, 90, 70)
    mixed = 0 < int(v6.sum()) < n
    flat = prefix[np.arange(prefix.shape[1]) < prefix_len[:, None]] if mixed else prefix.ravel()
    out = interleave(
        [
            (flat, prefix_len),
            (batch.header_extra, np.diff(batch.extra_offsets)),
            (batch.payload, np.diff(batch.offsets)),
        ]
    )
    rows6 = np.flatnonzero(v6)
    if rows6.shape[0]:
        pos = np.zeros(n, dtype=np.int64)
        np.cumsum(16 + frame[:-1], out=pos[1:])
        udp = pos[rows6] + 70
        _udp6_checksums(out, udp, udp_len[rows6], src=table[1], dst=table[2], sid=sid[rows6])
    return out


_Table = tuple[Bools, U8, U8, I64, I64]


def _prefixes(
    batch: PacketBatch, table: _Table, sid: I64, v6: Bools, udp_len: I64, frame: I64
) -> U8:
    """Row i: the record header, Ethernet, IP, UDP and fixed RTP header of packet i (70 bytes
    for IPv4, 90 for IPv6; the matrix is 70 wide when there is no IPv6)."""
    n = len(batch)
    _, srct, dstt, sportt, dportt = table
    rows4, rows6 = np.flatnonzero(~v6), np.flatnonzero(v6)
    prefix = np.empty((n, 90 if rows6.shape[0] else 70), dtype=np.uint8)
    arrival = np.maximum(batch.arrival_us, 0)
    record = prefix[:, :16].view("<u4")
    record[:, 0] = arrival // 1_000_000
    record[:, 1] = arrival % 1_000_000
    record[:, 2] = frame
    record[:, 3] = frame
    prefix[:, 16:30] = _ETH4
    # The UDP header and fixed RTP header, written in place when every row is IPv4.
    tail = np.empty((n, 20), dtype=np.uint8) if rows6.shape[0] else prefix[:, 50:70]
    _be16(tail, 0, sportt[sid])
    _be16(tail, 2, dportt[sid])
    _be16(tail, 4, udp_len)
    tail[:, 6:8] = 0
    tail[:, 8:] = fixed_headers(batch)
    if rows4.shape[0] and not rows6.shape[0]:
        _ipv4_headers(prefix[:, 30:50], batch, rows4, sid, udp_len, srct, dstt)
    elif rows4.shape[0]:
        ip = np.empty((rows4.shape[0], 20), dtype=np.uint8)
        _ipv4_headers(ip, batch, rows4, sid[rows4], udp_len[rows4], srct, dstt)
        prefix[rows4, 30:50] = ip
        prefix[rows4, 50:70] = tail[rows4]
    if rows6.shape[0]:
        s = sid[rows6]
        ip = np.empty((rows6.shape[0], 40), dtype=np.uint8)
        ip[:] = _IP6
        _be16(ip, 4, udp_len[rows6])
        ip[:, 8:24] = srct[s]
        ip[:, 24:40] = dstt[s]
        prefix[rows6, 16:30] = _ETH6
        prefix[rows6, 30:70] = ip
        prefix[rows6, 70:90] = tail[rows6]
    return prefix


def _ipv4_headers(
    ip: U8, batch: PacketBatch, rows: I64, s: I64, udp_len: I64, srct: U8, dstt: U8
) -> None:
    """IPv4 headers of ``rows``, with their checksums, into the rows of ``ip``."""
    ip[:] = _IP4
    total = 20 + udp_len
    ident = batch.index[rows].astype(np.int64) & 0xFFFF
    _be16(ip, 2, total)
    _be16(ip, 4, ident)
    ip[:, 12:16] = srct[s, 12:]
    ip[:, 16:20] = dstt[s, 12:]
    addr_sum = _words(srct[:, 12:]) + _words(dstt[:, 12:])
    _be16(ip, 10, ~_fold(0x4500 + 0x4000 + 0x4011 + total + ident + addr_sum[s]) & 0xFFFF)


def _udp6_checksums(out: U8, udp: I64, length: I64, *, src: U8, dst: U8, sid: I64) -> None:
    data, offsets = gather_spans(out, udp, length)
    row = np.repeat(np.arange(udp.shape[0]), length)
    odd = (np.arange(data.shape[0]) - offsets[:-1][row]) & 1
    weighted = data.astype(np.int64) * np.where(odd == 1, 1, 256)
    body = np.add.reduceat(weighted, offsets[:-1])
    pseudo = (_words(src) + _words(dst))[sid] + length + _UDP
    checksum = ~_fold(body + pseudo) & 0xFFFF
    _put(out, udp + 6, np.where(checksum == 0, 0xFFFF, checksum), 2)
