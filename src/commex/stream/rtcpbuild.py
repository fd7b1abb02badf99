"""Write RTCP compound packets (RFC 3550 6), and build the ones commex sends.

:func:`encode_rtcp` writes any packets of :mod:`commex.stream.rtcp` as one datagram, checking
every field's range (a bad one raises :class:`InvalidInput` naming it), so what it writes
parses back to the same values. :func:`sr_compound`, :func:`bye_compound` and
:func:`rr_compound` build the compounds a sender and a receiver send: RFC 3550 6.1 wants every
compound to start with a report and to carry the sender's CNAME.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from commex.domain.errors import InvalidInput
from commex.stream.rtcp import (
    APP,
    BYE,
    MAX_COUNT,
    PSFB,
    RR,
    RTPFB,
    SDES,
    SDES_CNAME,
    SR,
    TYPE_NAMES,
    App,
    Bye,
    Feedback,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
)
from commex.stream.rtp import check_range, is_rtcp_type

_HEADER = struct.Struct("!BBH")
_SENDER = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")
_U32 = 0xFFFFFFFF


def sr_compound(report: SenderReport, cname: str) -> bytes:
    """A sender report followed by an SDES naming the sender's CNAME."""
    return encode_rtcp([report, SourceDescription((cname_chunk(report.ssrc, cname),))])


def rr_compound(ssrc: int, reports: Sequence[ReportBlock], cname: str) -> bytes:
    """A receiver report from ``ssrc`` with its blocks, followed by its CNAME."""
    rr = ReceiverReport(ssrc, tuple(reports))
    return encode_rtcp([rr, SourceDescription((cname_chunk(ssrc, cname),))])


def bye_compound(report: SenderReport | ReceiverReport, cname: str, reason: str = "") -> bytes:
    """A last report, the CNAME, then a BYE for the report's source (with a reason if given)."""
    bye = Bye((report.ssrc,), reason.encode() if reason else None)
    return encode_rtcp([report, SourceDescription((cname_chunk(report.ssrc, cname),)), bye])


def cname_chunk(ssrc: int, cname: str) -> SdesChunk:
    """An SDES chunk holding one CNAME item (1 to 255 bytes of UTF-8)."""
    value = cname.encode()
    if not 1 <= len(value) <= 255:
        raise InvalidInput(f"a CNAME has 1 to 255 bytes of UTF-8, got {len(value)}", "cname")
    return SdesChunk(ssrc, (SdesItem(SDES_CNAME, value),))


def encode_rtcp(packets: Iterable[RtcpPacket], *, padding: int = 0) -> bytes:
    """Write packets as one compound datagram; ``padding`` bytes (a multiple of 4, at most
    252) go on the last packet. A field out of range raises :class:`InvalidInput` naming it."""
    items = list(packets)
    if not items:
        raise InvalidInput("a compound RTCP packet needs at least one packet", "packets")
    if padding < 0 or padding > 252 or padding % 4:
        raise InvalidInput(
            f"padding must be a multiple of 4 within 0..252, got {padding}", "padding"
        )
    out = []
    for i, p in enumerate(items):
        pt, count, body = _encode_body(p)
        pad = padding if i == len(items) - 1 else 0
        if pad:
            body += bytes(pad - 1) + bytes([pad])
        if count > MAX_COUNT:
            raise InvalidInput(
                f"at most {MAX_COUNT} report blocks, chunks or sources in one packet, got {count}",
                "count",
            )
        if len(body) > 4 * 0xFFFF:
            raise InvalidInput(
                f"an RTCP packet holds at most {4 * 0xFFFF} bytes after its header, "
                f"got {len(body)}",
                "length",
            )
        out.append(_HEADER.pack(0x80 | (0x20 if pad else 0) | count, pt, len(body) // 4) + body)
    return b"".join(out)


def _encode_body(p: RtcpPacket) -> tuple[int, int, bytes]:
    """The packet type, count field and body (without padding) of one packet."""
    if isinstance(p, SenderReport):
        for name in ("ssrc", "rtp_timestamp", "packet_count", "octet_count"):
            check_range(name, getattr(p, name), 0, _U32)
        check_range("ntp_timestamp", p.ntp_timestamp, 0, (1 << 64) - 1)
        head = _SENDER.pack(p.ssrc, p.ntp_timestamp, p.rtp_timestamp, p.packet_count, p.octet_count)
        return SR, len(p.reports), head + _blocks(p.reports) + _words("extension", p.extension)
    if isinstance(p, ReceiverReport):
        return (
            RR,
            len(p.reports),
            _ssrcs((p.ssrc,)) + _blocks(p.reports) + _words("extension", p.extension),
        )
    if isinstance(p, SourceDescription):
        return SDES, len(p.chunks), b"".join(_chunk(c) for c in p.chunks)
    if isinstance(p, Bye):
        return BYE, len(p.sources), _bye_body(p)
    if isinstance(p, Feedback):
        if p.packet_type not in (RTPFB, PSFB):
            raise InvalidInput(f"feedback type must be 205 or 206, got {p.packet_type}", "type")
        check_range("fmt", p.fmt, 0, MAX_COUNT)
        ssrcs = _ssrcs((p.sender_ssrc, p.media_ssrc))
        return p.packet_type, p.fmt, ssrcs + _words("fci", p.fci)
    if isinstance(p, App):
        if len(p.name) != 4:
            raise InvalidInput(f"an APP name has 4 bytes, got {len(p.name)}", "name")
        check_range("subtype", p.subtype, 0, MAX_COUNT)
        return APP, p.subtype, _ssrcs((p.ssrc,)) + p.name + _words("data", p.data)
    if not is_rtcp_type(p.packet_type) or p.packet_type in TYPE_NAMES:
        raise InvalidInput(
            f"an opaque packet needs an RTCP type without a parser, got {p.packet_type}", "type"
        )
    check_range("count", p.count, 0, MAX_COUNT)
    return p.packet_type, p.count, _words("body", p.body)


def _blocks(reports: Sequence[ReportBlock]) -> bytes:
    out = []
    for b in reports:
        check_range("ssrc", b.ssrc, 0, _U32)
        check_range("fraction_lost", b.fraction_lost, 0, 255)
        check_range("packets_lost", b.packets_lost, -(1 << 23), (1 << 23) - 1)
        for name in ("highest_sequence", "jitter", "lsr", "dlsr"):
            check_range(name, getattr(b, name), 0, _U32)
        loss = b.fraction_lost << 24 | (b.packets_lost & 0xFFFFFF)
        out.append(_BLOCK.pack(b.ssrc, loss, b.highest_sequence, b.jitter, b.lsr, b.dlsr))
    return b"".join(out)


def _chunk(c: SdesChunk) -> bytes:
    out = [_ssrcs((c.ssrc,))]
    for item in c.items:
        check_range("kind", item.kind, 1, 255)
        if len(item.value) > 255:
            raise InvalidInput(
                f"an SDES item holds at most 255 bytes, got {len(item.value)}", "sdes"
            )
        out.append(bytes([item.kind, len(item.value)]) + item.value)
    raw = b"".join(out)
    return raw + bytes(4 - len(raw) % 4)  # the null item, then up to a 32-bit boundary


def _bye_body(p: Bye) -> bytes:
    body = _ssrcs(p.sources)
    if p.reason is None:
        return body
    if len(p.reason) > 255:
        raise InvalidInput(f"a BYE reason holds at most 255 bytes, got {len(p.reason)}", "reason")
    reason = bytes([len(p.reason)]) + p.reason
    return body + reason + bytes(-len(reason) % 4)


def _ssrcs(values: Sequence[int]) -> bytes:
    for v in values:
        check_range("ssrc", v, 0, _U32)
    return struct.pack(f"!{len(values)}I", *values)


def _words(name: str, data: bytes) -> bytes:
    if len(data) % 4:
        raise InvalidInput(f"{name} must be a multiple of 4 bytes, got {len(data)}", name)
    return bytes(data)
