"""Link, IP and UDP headers of captured frames, decoded and encoded for many frames at once.

The pcap reader hands over every frame of a chunk as offsets into one buffer; this module finds
the UDP datagram in each (Ethernet with 802.1Q/802.1ad tags, Linux cooked capture v1/v2, raw
IP, BSD loopback; IPv4 and IPv6 with extension headers) and says why a frame is not one. The
encoder does the reverse for the pcap writer: Ethernet/IPv4 or IPv6/UDP around RTP datagrams.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I64, U8, Bools, PacketBatch, StreamKey
from commex.stream.ragged import byte_at, col16, gather_spans, interleave, windows
from commex.stream.rtp import fixed_headers, rtp_sizes
from commex.stream.streamtable import address_bytes

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LOOP = 108
LINK_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL2 = 276
SUPPORTED_LINK_TYPES = frozenset(
    {LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2}
)

# Why a frame is not a UDP datagram (0 means it is one).
UDP, NOT_UDP, FRAGMENT, TRUNCATED, MALFORMED = range(5)

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_UDP = 17


@dataclass(frozen=True, slots=True)
class Frames:
    """Per frame: ``reason`` (``UDP`` if it holds a whole datagram), the IP and UDP header
    offsets, the datagram's payload offset and length, its ports, and the first 40 bytes of
    the IP header (for the addresses). Fields are meaningful where ``reason == UDP``."""

    reason: I64
    l3: I64
    is_v6: Bools
    l4: I64
    udp_start: I64
    udp_len: I64
    sport: I64
    dport: I64
    ip: U8
    rtp_head: U8  # the 12 bytes after the UDP header: the fixed RTP header, if it is RTP


_FRAME_WINDOW = 64


def _at(buf: U8, frame: U8, starts: I64, offset: I64, width: int) -> U8:
    """``width`` bytes at ``offset`` of every frame: a slice of the frame window when every
    frame has that header at the same place (the usual case), else a fresh window."""
    rel = offset - starts
    if rel.shape[0] and bool((rel == rel[0]).all()) and 0 <= int(rel[0]) <= _FRAME_WINDOW - width:
        return frame[:, int(rel[0]) : int(rel[0]) + width]
    return windows(buf, offset, width)


def _link_layer(win: U8, lt: int) -> tuple[I64, I64]:
    """Ethertype and IP header offset (from the frame start) for frames of link type ``lt``."""
    rows = win.shape[0]
    if lt == LINK_ETHERNET:
        et, at = col16(win, 12), np.full(rows, 14, dtype=np.int64)
        for tag in (16, 20):  # 802.1Q / 802.1ad tags, up to two
            tagged = np.isin(et, _VLAN_TAGS)
            et = np.where(tagged, col16(win, tag), et)
            at = np.where(tagged, at + 4, at)
        return et, at
    if lt == LINK_SLL:
        return col16(win, 14), np.full(rows, 16, dtype=np.int64)
    if lt == LINK_SLL2:
        return col16(win, 0), np.full(rows, 20, dtype=np.int64)
    if lt in (LINK_NULL, LINK_LOOP):
        family = win[:, 0] | win[:, 3]  # host or network byte order
        v6 = np.isin(family, (24, 28, 30))
        et = np.where(family == 2, _ETH_IPV4, np.where(v6, _ETH_IPV6, 0))
        return et.astype(np.int64), np.full(rows, 4, dtype=np.int64)
    version = win[:, 0] >> 4  # raw IP
    et = np.where(version == 4, _ETH_IPV4, np.where(version == 6, _ETH_IPV6, 0))
    return et.astype(np.int64), np.zeros(rows, dtype=np.int64)


def _network_layer(buf: U8, starts: I64, link: I64) -> tuple[U8, I64, I64]:
    """The first bytes of every frame, its ethertype and its IP header's offset."""
    link_win = windows(buf, starts, _FRAME_WINDOW)
    l3 = np.full(starts.shape, -(1 << 40), dtype=np.int64)
    ethertype = np.zeros(starts.shape, dtype=np.int64)
    uniform = link.shape[0] > 0 and bool((link == link[0]).all())
    kinds = [int(link[0])] if uniform else np.unique(link).tolist()
    for lt in kinds:
        if lt not in SUPPORTED_LINK_TYPES:
            continue
        if uniform:
            ethertype, at = _link_layer(link_win, lt)
            return link_win, ethertype, starts + at
        rows = np.flatnonzero(link == lt)
        ethertype[rows], at = _link_layer(link_win[rows], lt)
        l3[rows] = starts[rows] + at
    return link_win, ethertype, l3


def _ipv6_extensions(buf: U8, is_v6: Bools, proto: I64, l4: I64) -> Bools:
    """Walk up to three IPv6 extension headers (moving ``l4`` and ``proto`` past them);
    which datagrams are fragments."""
    for _ in range(3):
        ext = np.flatnonzero(is_v6 & np.isin(proto, _IPV6_EXTENSIONS))
        if not ext.shape[0]:
            break
        nxt = byte_at(buf, l4[ext])
        l4[ext] += (byte_at(buf, l4[ext] + 1) + 1) * 8
        proto[ext] = nxt
    fragment: Bools = is_v6 & (proto == _IPV6_FRAGMENT)
    return fragment


def decode_frames(buf: U8, starts: I64, caplen: I64, link: I64) -> Frames:
    """Locate the UDP datagram of every frame ``buf[starts[i]:starts[i] + caplen[i]]``."""
    end = starts + caplen
    link_win, ethertype, l3 = _network_layer(buf, starts, link)
    ip = _at(buf, link_win, starts, l3, 40)
    first = ip[:, 0]
    is_v4 = (ethertype == _ETH_IPV4) & (first >> 4 == 4)
    is_v6 = (ethertype == _ETH_IPV6) & (first >> 4 == 6)
    hl4 = (first & 0x0F).astype(np.int64) * 4
    hdr_ok = np.where(is_v4, (l3 + 20 <= end) & (hl4 >= 20), l3 + 40 <= end)
    ip_end = np.where(is_v4, l3 + col16(ip, 2), l3 + 40 + col16(ip, 4))
    proto = np.where(is_v4, ip[:, 9], ip[:, 6]).astype(np.int64)
    l4 = np.where(is_v4, l3 + hl4, l3 + 40)
    fragment = is_v4 & ((col16(ip, 6) & 0x3FFF) != 0)
    if is_v6.any():
        fragment |= _ipv6_extensions(buf, is_v6, proto, l4)
    udp = _at(buf, link_win, starts, l4, 20)
    ulen = col16(udp, 4)
    udp_end = l4 + ulen
    reason = np.select(
        [
            ~(is_v4 | is_v6),
            ~hdr_ok,
            fragment,
            proto != _UDP,
            ip_end < l4 + 8,
            ip_end > end,
            (ulen < 8) | (udp_end > ip_end),
        ],
        [NOT_UDP, TRUNCATED, FRAGMENT, NOT_UDP, MALFORMED, TRUNCATED, MALFORMED],
        default=UDP,
    )
    return Frames(
        reason=reason.astype(np.int64),
        l3=l3,
        is_v6=is_v6,
        l4=l4,
        udp_start=l4 + 8,
        udp_len=ulen - 8,
        sport=col16(udp, 0),
        dport=col16(udp, 2),
        ip=ip,
        rtp_head=udp[:, 8:20],
    )


def addresses(frames: Frames, rows: I64) -> tuple[U8, U8]:
    """Source and destination addresses of ``rows`` as ``(n, 16)`` bytes (IPv4 in the last
    four), read from the IP header window."""
    n = rows.shape[0]
    ip = frames.ip[rows]
    v6 = frames.is_v6[rows]
    src = np.zeros((n, 16), dtype=np.uint8)
    dst = np.zeros((n, 16), dtype=np.uint8)
    src[:, 12:] = ip[:, 12:16]
    dst[:, 12:] = ip[:, 16:20]
    if v6.any():
        src[v6] = ip[v6, 8:24]
        dst[v6] = ip[v6, 24:40]
    return src, dst


# --- encoding ----------------------------------------------------------------------------------

_MAC = bytes.fromhex("020000000002020000000001")  # locally administered dst, src
_ETH4 = np.frombuffer(_MAC + b"\x08\x00", dtype=np.uint8)
_ETH6 = np.frombuffer(_MAC + b"\x86\xdd", dtype=np.uint8)
_IP4 = np.frombuffer(bytes.fromhex("4500000000004000401100000000000000000000"), dtype=np.uint8)
_IP6 = np.frombuffer(bytes.fromhex("6000000000001140") + bytes(32), dtype=np.uint8)
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
    matrix[:, col] = (values >> 8) & 0xFF
    matrix[:, col + 1] = values & 0xFF


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
    prefix = np.zeros((n, 90 if rows6.shape[0] else 70), dtype=np.uint8)
    arrival = np.maximum(batch.arrival_us, 0)
    record = np.empty((n, 4), dtype="<u4")
    record[:, 0] = arrival // 1_000_000
    record[:, 1] = arrival % 1_000_000
    record[:, 2] = frame
    record[:, 3] = frame
    prefix[:, :16] = record.view(np.uint8).reshape(n, 16)
    prefix[:, 16:30] = _ETH4
    tail = np.empty((n, 20), dtype=np.uint8)  # UDP header and fixed RTP header
    _be16(tail, 0, sportt[sid])
    _be16(tail, 2, dportt[sid])
    _be16(tail, 4, udp_len)
    tail[:, 6:8] = 0
    tail[:, 8:] = fixed_headers(batch)
    if rows4.shape[0]:
        ip = _ipv4_headers(batch, rows4, sid[rows4], udp_len[rows4], srct, dstt)
        whole = rows4 if rows6.shape[0] else slice(None)
        prefix[whole, 30:50] = ip
        prefix[whole, 50:70] = tail[whole]
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


def _ipv4_headers(batch: PacketBatch, rows: I64, s: I64, udp_len: I64, srct: U8, dstt: U8) -> U8:
    """IPv4 headers of ``rows``, with their checksums."""
    ip = np.empty((rows.shape[0], 20), dtype=np.uint8)
    ip[:] = _IP4
    total = 20 + udp_len
    ident = batch.index[rows].astype(np.int64) & 0xFFFF
    _be16(ip, 2, total)
    _be16(ip, 4, ident)
    ip[:, 12:16] = srct[s, 12:]
    ip[:, 16:20] = dstt[s, 12:]
    addr_sum = _words(srct[:, 12:]) + _words(dstt[:, 12:])
    _be16(ip, 10, ~_fold(0x4500 + 0x4000 + 0x4011 + total + ident + addr_sum[s]) & 0xFFFF)
    return ip


def _udp6_checksums(out: U8, udp: I64, length: I64, *, src: U8, dst: U8, sid: I64) -> None:
    data, offsets = gather_spans(out, udp, length)
    row = np.repeat(np.arange(udp.shape[0]), length)
    odd = (np.arange(data.shape[0]) - offsets[:-1][row]) & 1
    weighted = data.astype(np.int64) * np.where(odd == 1, 1, 256)
    body = np.add.reduceat(weighted, offsets[:-1])
    pseudo = (_words(src) + _words(dst))[sid] + length + _UDP
    checksum = ~_fold(body + pseudo) & 0xFFFF
    _put(out, udp + 6, np.where(checksum == 0, 0xFFFF, checksum), 2)
