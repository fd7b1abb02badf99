"""Link, IP and UDP headers of captured frames, decoded and encoded for many frames at once.

The pcap reader hands over every frame of a chunk as offsets into one buffer; this module finds
the UDP datagram in each (Ethernet with 802.1Q/802.1ad tags, Linux cooked capture v1/v2, raw
IP, BSD loopback; IPv4 and IPv6 with extension headers) and says why a frame is not one. The
encoder does the reverse for the pcap writer: Ethernet/IPv4 or IPv6/UDP around RTP datagrams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commex.stream.packets import I64, U8, Bools, PacketBatch, StreamKey
from commex.stream.rtp import address_bytes, be16, byte_at, gather_spans, rtp_sizes, write_into

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
    """Per frame: ``reason`` (``UDP`` if it holds a whole datagram), the IP header offset, and
    the datagram's payload offset and length (meaningful where ``reason == UDP``)."""

    reason: I64
    l3: I64
    is_v6: Bools
    l4: I64
    udp_start: I64
    udp_len: I64


def decode_frames(buf: U8, starts: I64, caplen: I64, link: I64) -> Frames:
    """Locate the UDP datagram of every frame ``buf[starts[i]:starts[i] + caplen[i]]``."""
    end = starts + caplen
    l3 = np.full(starts.shape, -1, dtype=np.int64)
    ethertype = np.zeros(starts.shape, dtype=np.int64)
    for lt in np.unique(link).tolist():
        rows = np.flatnonzero(link == lt)
        s = starts[rows]
        if lt == LINK_ETHERNET:
            et, at = be16(buf, s + 12), s + 14
            for _ in range(2):
                tagged = np.isin(et, _VLAN_TAGS)
                et = np.where(tagged, be16(buf, at + 2), et)
                at = np.where(tagged, at + 4, at)
        elif lt == LINK_SLL:
            et, at = be16(buf, s + 14), s + 16
        elif lt == LINK_SLL2:
            et, at = be16(buf, s), s + 20
        elif lt in (LINK_NULL, LINK_LOOP):
            family = byte_at(buf, s) | byte_at(buf, s + 3)  # host or network byte order
            et = np.where(
                family == 2, _ETH_IPV4, np.where(np.isin(family, (24, 28, 30)), _ETH_IPV6, 0)
            )
            at = s + 4
        elif lt in (LINK_RAW, LINK_IPV4, LINK_IPV6):
            version = byte_at(buf, s) >> 4
            et = np.where(version == 4, _ETH_IPV4, np.where(version == 6, _ETH_IPV6, 0))
            at = s
        else:
            continue
        ethertype[rows] = et
        l3[rows] = at

    first = byte_at(buf, l3)
    is_v4 = (ethertype == _ETH_IPV4) & (first >> 4 == 4)
    is_v6 = (ethertype == _ETH_IPV6) & (first >> 4 == 6)
    hl4 = (first & 0x0F) * 4
    hdr_ok = np.where(is_v4, (l3 + 20 <= end) & (hl4 >= 20), l3 + 40 <= end)
    ip_end = np.where(is_v4, l3 + be16(buf, l3 + 2), l3 + 40 + be16(buf, l3 + 4))
    proto = np.where(is_v4, byte_at(buf, l3 + 9), byte_at(buf, l3 + 6))
    l4 = np.where(is_v4, l3 + hl4, l3 + 40)
    fragment = is_v4 & ((be16(buf, l3 + 6) & 0x3FFF) != 0)
    if is_v6.any():
        for _ in range(3):
            ext = is_v6 & np.isin(proto, _IPV6_EXTENSIONS)
            if not ext.any():
                break
            nxt = byte_at(buf, l4)
            l4 = np.where(ext, l4 + (byte_at(buf, l4 + 1) + 1) * 8, l4)
            proto = np.where(ext, nxt, proto)
        fragment |= is_v6 & (proto == _IPV6_FRAGMENT)
    ulen = be16(buf, l4 + 4)
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
    )


def addresses(buf: U8, l3: I64, is_v6: Bools) -> tuple[U8, U8]:
    """Source and destination addresses as ``(n, 16)`` bytes (IPv4 in the last four)."""
    n = l3.shape[0]
    src = np.zeros((n, 16), dtype=np.uint8)
    dst = np.zeros((n, 16), dtype=np.uint8)
    top = max(buf.shape[0] - 1, 0)
    v4 = np.flatnonzero(~is_v6)
    v6 = np.flatnonzero(is_v6)
    if v4.shape[0]:
        base = l3[v4, None] + np.arange(4)
        src[v4, 12:] = buf[np.clip(base + 12, 0, top)]
        dst[v4, 12:] = buf[np.clip(base + 16, 0, top)]
    if v6.shape[0]:
        base = l3[v6, None] + np.arange(16)
        src[v6] = buf[np.clip(base + 8, 0, top)]
        dst[v6] = buf[np.clip(base + 24, 0, top)]
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


def _put_le(out: U8, at: I64, value: I64, width: int) -> None:
    for k in range(width):
        out[at + k] = (value >> (8 * k)) & 0xFF


def _fold(total: I64) -> I64:
    for _ in range(3):
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _stream_columns(streams: tuple[StreamKey, ...]) -> tuple[Bools, U8, U8, I64, I64]:
    keys = (*streams, _DEFAULT_KEY)
    packed = [(address_bytes(k.src), address_bytes(k.dst)) for k in keys]
    if any(s[1] != d[1] for s, d in packed):
        raise ValueError("a stream mixes IPv4 and IPv6 addresses")
    v6 = np.array([s[1] for s, _ in packed], dtype=np.bool_)
    src = np.frombuffer(b"".join(s[0] for s, _ in packed), dtype=np.uint8).reshape(-1, 16)
    dst = np.frombuffer(b"".join(d[0] for _, d in packed), dtype=np.uint8).reshape(-1, 16)
    sport = np.array([k.src_port for k in keys], dtype=np.int64)
    dport = np.array([k.dst_port for k in keys], dtype=np.int64)
    return v6, src, dst, sport, dport


def _words(addr: U8) -> I64:
    wide = addr.astype(np.int64)
    words: I64 = (wide[:, 0::2] << 8).sum(axis=1) + wide[:, 1::2].sum(axis=1)
    return words


def encode_records(batch: PacketBatch) -> bytes:
    """pcap records (little-endian, microseconds) of Ethernet/IP/UDP frames around each packet.

    Addresses and ports come from each packet's stream; a packet without a known stream gets
    192.0.2.1:5004 -> 192.0.2.2:5004. IPv4 headers carry a correct checksum and a zero UDP
    checksum (allowed for IPv4); IPv6 UDP datagrams carry their mandatory checksum.
    """
    n = len(batch)
    if n == 0:
        return b""
    v6t, srct, dstt, sportt, dportt = _stream_columns(batch.streams)
    known = len(batch.streams)
    sid = batch.stream.astype(np.int64)
    sid = np.where((sid >= 0) & (sid < known), sid, known)
    v6 = v6t[sid]
    rtp = rtp_sizes(batch)
    udp_len = 8 + rtp
    frame = 14 + np.where(v6, 40, 20) + udp_len
    pos = np.zeros(n, dtype=np.int64)
    np.cumsum(16 + frame[:-1], out=pos[1:])
    out = np.zeros(int(pos[-1] + 16 + frame[-1]), dtype=np.uint8)
    arrival = np.maximum(batch.arrival_us, 0)
    _put_le(out, pos, arrival // 1_000_000, 4)
    _put_le(out, pos + 4, arrival % 1_000_000, 4)
    _put_le(out, pos + 8, frame, 4)
    _put_le(out, pos + 12, frame, 4)
    eth = pos + 16
    ip = eth + 14
    rows4, rows6 = np.flatnonzero(~v6), np.flatnonzero(v6)
    if rows4.shape[0]:
        at, s = ip[rows4], sid[rows4]
        out[eth[rows4, None] + np.arange(14)] = _ETH4
        out[at[:, None] + np.arange(20)] = _IP4
        total = 20 + udp_len[rows4]
        ident = batch.index[rows4].astype(np.int64) & 0xFFFF
        _put(out, at + 2, total, 2)
        _put(out, at + 4, ident, 2)
        out[at[:, None] + 12 + np.arange(4)] = srct[s, 12:]
        out[at[:, None] + 16 + np.arange(4)] = dstt[s, 12:]
        addr_sum = _words(srct[:, 12:]) + _words(dstt[:, 12:])
        checksum = ~_fold(0x4500 + 0x4000 + 0x4011 + total + ident + addr_sum[s]) & 0xFFFF
        _put(out, at + 10, checksum, 2)
    if rows6.shape[0]:
        at, s = ip[rows6], sid[rows6]
        out[eth[rows6, None] + np.arange(14)] = _ETH6
        out[at[:, None] + np.arange(40)] = _IP6
        _put(out, at + 4, udp_len[rows6], 2)
        out[at[:, None] + 8 + np.arange(16)] = srct[s]
        out[at[:, None] + 24 + np.arange(16)] = dstt[s]
    udp = ip + np.where(v6, 40, 20)
    _put(out, udp, sportt[sid], 2)
    _put(out, udp + 2, dportt[sid], 2)
    _put(out, udp + 4, udp_len, 2)
    write_into(out, udp + 8, batch)
    if rows6.shape[0]:
        _udp6_checksums(out, udp[rows6], udp_len[rows6], src=srct, dst=dstt, sid=sid[rows6])
    return out.tobytes()


def _udp6_checksums(out: U8, udp: I64, length: I64, *, src: U8, dst: U8, sid: I64) -> None:
    data, offsets = gather_spans(out, udp, length)
    row = np.repeat(np.arange(udp.shape[0]), length)
    odd = (np.arange(data.shape[0]) - offsets[:-1][row]) & 1
    weighted = data.astype(np.int64) * np.where(odd == 1, 1, 256)
    body = np.add.reduceat(weighted, offsets[:-1])
    pseudo = (_words(src) + _words(dst))[sid] + length + _UDP
    checksum = ~_fold(body + pseudo) & 0xFFFF
    _put(out, udp + 6, np.where(checksum == 0, 0xFFFF, checksum), 2)
