"""Link, IP and UDP headers of captured frames, decoded for many frames at once.

The pcap reader hands over every frame of a chunk as offsets into one buffer; this module finds
the UDP datagram in each (Ethernet with 802.1Q/802.1ad tags, Linux cooked capture v1/v2, raw
IP, BSD loopback; IPv4 and IPv6 with extension headers) and says why a frame is not one.
:mod:`commex.stream.frameencode` does the reverse for the pcap writer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commex.stream.packets import I64, U8, Bools
from commex.stream.ragged import byte_at, col16, windows

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
