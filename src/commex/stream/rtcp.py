"""RTCP (RFC 3550, with RFC 4585 feedback headers): the packets and their parser.

One UDP datagram carries one or more RTCP packets back to back (a compound packet).
:func:`parse_rtcp` reads them all into frozen values: sender and receiver reports with their
report blocks, source descriptions, BYE, transport and payload-specific feedback, APP, and any
other packet type in the RTCP range kept opaque. Every packet is checked (version, length,
padding, the layout of its own type); anything wrong raises :class:`RtcpError` naming the
packet and the fault, so a broken datagram is never half-read.
:mod:`commex.stream.rtcpbuild` writes packets back; parsing its output gives the same values.

rtcp-mux (RFC 5761) lets RTP and RTCP share one port: :func:`is_rtcp` tells them apart by the
second byte, since RTCP packet types 192-223 would read as RTP payload types 64-95 with the
marker set, which RTP must not use.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from commex.domain.errors import InvalidInput
from commex.stream.rtp import is_rtcp_type

VERSION = 2
SR, RR, SDES, BYE, APP, RTPFB, PSFB = 200, 201, 202, 203, 204, 205, 206
MAX_COUNT = 31  # report blocks, chunks or sources in one packet (a 5-bit field)
SDES_CNAME, SDES_NAME, SDES_EMAIL, SDES_PHONE, SDES_LOC, SDES_TOOL, SDES_NOTE, SDES_PRIV = range(
    1, 9
)

_HEADER = struct.Struct("!BBH")
_SENDER = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")
_WORD = struct.Struct("!I")
_TWO_WORDS = struct.Struct("!II")
TYPE_NAMES = {
    SR: "sender report",
    RR: "receiver report",
    SDES: "SDES",
    BYE: "BYE",
    APP: "APP",
    RTPFB: "RTP feedback",
    PSFB: "payload-specific feedback",
}


class RtcpError(InvalidInput):
    """Raised when bytes are not a well-formed RTCP compound packet: too short, not version 2,
    a type outside 192-223, a length that runs past the datagram, bad padding, or a packet
    whose body does not hold what its type and count say. The message names the packet."""

    code = "malformed_rtcp"


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """What a receiver measured about one source (RFC 3550 6.4.1).

    ``fraction_lost`` is in 1/256 over the last interval; ``packets_lost`` is cumulative and
    signed (duplicates can make it negative); ``jitter`` is in RTP timestamp units; ``lsr`` is
    the middle 32 bits of the NTP time of the last sender report received, ``dlsr`` the delay
    since then in 1/65536 s (both 0 when no sender report was received).
    """

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    """An SR: the sender's NTP and RTP time of the same instant, what it sent, and reports.

    ``octet_count`` counts payload octets only (no headers, no padding), as RFC 3550 says.
    ``extension`` holds the profile-specific extension after the report blocks, if any.
    """

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """An RR: the reporter's SSRC and its report blocks about the sources it receives."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item: its type (``SDES_CNAME`` ...) and value bytes (UTF-8 text by RFC)."""

    kind: int
    value: bytes

    @property
    def text(self) -> str:
        """The value as text; bytes that are not UTF-8 show as replacement characters."""
        return self.value.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The items that describe one source."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    @property
    def cname(self) -> str | None:
        """The canonical name (CNAME item), if the chunk has one."""
        return next((i.text for i in self.items if i.kind == SDES_CNAME), None)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """An SDES packet: one chunk per described source."""

    chunks: tuple[SdesChunk, ...] = ()


@dataclass(frozen=True, slots=True)
class Bye:
    """A BYE: these sources leave the session, with an optional reason (UTF-8 by RFC)."""

    sources: tuple[int, ...] = ()
    reason: bytes | None = None

    @property
    def reason_text(self) -> str | None:
        """The reason as text, or None when the packet gives none."""
        return None if self.reason is None else self.reason.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Feedback:
    """An RTPFB (205) or PSFB (206) message (RFC 4585 6.1): ``fmt`` is the feedback message
    type (1 is generic NACK for RTPFB and PLI for PSFB); ``fci`` the raw control information."""

    packet_type: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    def nack_sequences(self) -> list[int]:
        """The sequence numbers a generic NACK (RTPFB, fmt 1) reports lost (RFC 4585 6.2.1)."""
        if (self.packet_type, self.fmt) != (RTPFB, 1):
            raise InvalidInput("only a generic NACK (RTPFB, fmt 1) lists lost packets", "fmt")
        lost: list[int] = []
        for pid, blp in struct.iter_unpack("!HH", self.fci[: len(self.fci) // 4 * 4]):
            lost.append(pid)
            lost.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)
        return lost


@dataclass(frozen=True, slots=True)
class App:
    """An APP packet: a subtype, the source, a four-byte ASCII name and its data."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """A packet of another RTCP type (e.g. XR, 207), kept as its count field and body."""

    packet_type: int
    count: int
    body: bytes = b""


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | Feedback | App | UnknownRtcp


def is_rtcp(datagram: bytes) -> bool:
    """Whether a datagram on an rtcp-mux port is RTCP (RFC 5761 4): version 2 and a second
    byte of 192-223. Anything else is left to the RTP parser, which refuses what is neither."""
    return len(datagram) >= 2 and datagram[0] >> 6 == VERSION and is_rtcp_type(datagram[1])


def partition_mux(datagrams: Sequence[bytes]) -> tuple[list[int], list[int]]:
    """The positions of the media datagrams and of the RTCP ones, in order (RFC 5761)."""
    media: list[int] = []
    control: list[int] = []
    for i, d in enumerate(datagrams):
        (control if is_rtcp(d) else media).append(i)
    return media, control


# --- parsing ---------------------------------------------------------------------------------


def parse_rtcp(data: bytes) -> tuple[RtcpPacket, ...]:
    """Every packet of an RTCP compound datagram, in order; :class:`RtcpError` if any is bad."""
    data = bytes(data)
    if not data:
        raise RtcpError("empty datagram: an RTCP packet has at least a 4-byte header", "length")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < len(data):
        packet, pos = _parse_one(data, pos, len(packets) + 1)
        packets.append(packet)
    return tuple(packets)


def _parse_one(data: bytes, pos: int, number: int) -> tuple[RtcpPacket, int]:
    left = len(data) - pos
    where = f"RTCP packet {number} of the datagram"
    if left < 4:
        raise RtcpError(f"{where} is truncated: {left} bytes, a header needs 4", "length")
    b0, pt, words = _HEADER.unpack_from(data, pos)
    if b0 >> 6 != VERSION:
        raise RtcpError(f"{where} has version {b0 >> 6}, expected {VERSION}", "version")
    if not is_rtcp_type(pt):
        raise RtcpError(f"{where} has type {pt}, not an RTCP type (192-223)", "packet_type")
    end = pos + 4 + 4 * words
    if end > len(data):
        raise RtcpError(
            f"{where} (type {pt}) is truncated: its length field says {end - pos} bytes, "
            f"{left} are left",
            "length",
        )
    body = data[pos + 4 : end]
    if b0 & 0x20:
        body = _strip_padding(body, where)
    name = f"RTCP {TYPE_NAMES.get(pt, f'type {pt}')} (packet {number} of the datagram)"
    count = b0 & 0x1F
    return _parse_body(pt, count, body, name), end


def _parse_body(pt: int, count: int, body: bytes, name: str) -> RtcpPacket:
    if pt in (SR, RR):
        return _report(pt, count, body, name)
    if pt == SDES:
        return _sdes(count, body, name)
    if pt == BYE:
        return _bye(count, body, name)
    if pt in (RTPFB, PSFB):
        return _feedback(pt, count, body, name)
    if pt == APP:
        return _app(count, body, name)
    return UnknownRtcp(pt, count, body)


def _strip_padding(body: bytes, where: str) -> bytes:
    if not body:
        raise RtcpError(f"{where} has its padding bit set but no padding byte", "padding")
    pad = body[-1]
    if pad == 0 or pad > len(body):
        raise RtcpError(
            f"{where} has an invalid padding count {pad} ({len(body)} bytes after the header)",
            "padding",
        )
    return body[: len(body) - pad]


def _report(pt: int, count: int, body: bytes, name: str) -> SenderReport | ReceiverReport:
    head = 24 if pt == SR else 4
    need = head + 24 * count
    if len(body) < need:
        raise RtcpError(
            f"{name} length is invalid: {len(body)} bytes after the header, "
            f"{need} needed for a report count of {count}",
            "length",
        )
    blocks = tuple(_block(body, head + 24 * i) for i in range(count))
    extension = body[need:]
    if pt == RR:
        return ReceiverReport(_WORD.unpack_from(body)[0], blocks, extension)
    ssrc, ntp, rtp_ts, packets, octets = _SENDER.unpack_from(body)
    return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks, extension)


def _block(body: bytes, at: int) -> ReportBlock:
    ssrc, loss, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, at)
    lost = loss & 0xFFFFFF
    if lost & 0x800000:  # a signed 24-bit count
        lost -= 1 << 24
    return ReportBlock(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr)


def _sdes(count: int, body: bytes, name: str) -> SourceDescription:
    chunks: list[SdesChunk] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise RtcpError(
                f"{name} source is truncated: chunk {len(chunks) + 1} of {count} "
                f"starts at byte {pos} of {len(body)}",
                "sdes",
            )
        ssrc = _WORD.unpack_from(body, pos)[0]
        items, pos = _sdes_items(body, pos + 4, name)
        chunks.append(SdesChunk(ssrc, items))
    if pos != len(body):
        raise RtcpError(f"{name} has {len(body) - pos} bytes after its {count} chunks", "length")
    return SourceDescription(tuple(chunks))


def _sdes_items(body: bytes, pos: int, name: str) -> tuple[tuple[SdesItem, ...], int]:
    """The items of one chunk from ``pos``, and where the next chunk starts."""
    items: list[SdesItem] = []
    while pos < len(body) and body[pos]:
        if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
            raise RtcpError(f"{name} item is truncated at byte {pos} of {len(body)}", "sdes")
        end = pos + 2 + body[pos + 1]
        items.append(SdesItem(body[pos], body[pos + 2 : end]))
        pos = end
    # A chunk ends with one or more null octets up to the next 32-bit boundary.
    nxt = (pos + 4) & ~3
    if nxt > len(body) or any(body[pos:nxt]):
        raise RtcpError(f"{name} chunk is not ended by null octets at byte {pos}", "sdes")
    return tuple(items), nxt


def _bye(count: int, body: bytes, name: str) -> Bye:
    need = 4 * count
    if len(body) < need:
        raise RtcpError(
            f"{name} length is invalid: {count} sources need {need} bytes, "
            f"the packet has {len(body)}",
            "length",
        )
    sources = struct.unpack_from(f"!{count}I", body)
    rest = body[need:]
    if not rest:
        return Bye(sources)
    end = 1 + rest[0]
    if end > len(rest) or len(rest) - end > 3 or any(rest[end:]):
        raise RtcpError(
            f"{name} reason of {rest[0]} bytes does not fit the {len(rest)} bytes left", "reason"
        )
    return Bye(sources, rest[1:end])


def _feedback(pt: int, count: int, body: bytes, name: str) -> Feedback:
    if len(body) < 8:
        raise RtcpError(
            f"{name} length is invalid: {len(body)} bytes after the header, "
            "the sender and media SSRC need 8",
            "length",
        )
    sender, media = _TWO_WORDS.unpack_from(body)
    return Feedback(pt, count, sender, media, body[8:])


def _app(count: int, body: bytes, name: str) -> App:
    if len(body) < 8:
        raise RtcpError(
            f"{name} length is invalid: {len(body)} bytes, the SSRC and name need 8", "length"
        )
    return App(count, _WORD.unpack_from(body)[0], body[4:8], body[8:])
