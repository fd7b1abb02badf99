"""RTCP for the streams commex sends: sender reports out, the receiver's reports in.

A :class:`SenderSession` belongs to one output stream (one SSRC). The runtime tells it what it
sent (:meth:`~SenderSession.sent`) and asks it, from its own loop, for the sender report that
is due (:meth:`~SenderSession.poll`); it hands it the RTCP that comes back, and the session
keeps what the far end measured about our stream: fraction lost, cumulative loss, jitter and
the round trip from LSR/DLSR (RFC 3550 6.4.1). :meth:`~SenderSession.figures` returns them as
a frozen value for the run report and the delivery record, so a breach can rest on what the
receiver saw. :class:`SenderSessions` parses each datagram once and hands it to the sessions
it concerns. Plain objects: no sockets, no threads, and the wall clock (Unix ns) is passed in.

The first report is due half an interval after the first packet, then one every interval
(RFC 3550 6.2; 5 s by default, its minimum; tests may use less). The interval is not
randomized: with one report stream per output stream over unicast, there is nothing to
synchronize with.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from commex.domain.errors import Conflict, InvalidInput
from commex.stream.ntptime import COMPACT_HZ, compact, compact_from_unix_ns, ntp_from_unix_ns
from commex.stream.ntptime import round_trip_units as _round_trip_units
from commex.stream.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SenderReport,
    parse_rtcp,
)
from commex.stream.rtcpbuild import bye_compound, cname_chunk, sr_compound

MIN_INTERVAL_S = 5.0
HISTORY = 64  # sender reports remembered for matching LSR: 5 minutes at the default interval
_NS = 1_000_000_000
_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SentReport:
    """A sender report as sent: its NTP and RTP time, the counts, and when (Unix ns)."""

    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    at_ns: int

    @property
    def compact(self) -> int:
        """The middle 32 bits of its NTP time, which a receiver echoes as LSR."""
        return compact(self.ntp_timestamp)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """Round trips measured from the receiver's LSR/DLSR, in milliseconds."""

    samples: int
    latest_ms: float
    min_ms: float
    mean_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class ReceiverFigures:
    """What the far end reported about one of our streams (None until it said it).

    ``fraction_lost`` is the latest report's loss over its interval (0 to 1, in 1/256 steps);
    ``cumulative_lost`` the packets lost since the start, as the receiver counts them;
    ``jitter_ms`` its interarrival jitter converted by the stream's clock rate. ``reports``
    counts the report blocks about this stream that were read; ``bye`` is whether a source
    that reported on it has left, with its reason.
    """

    ssrc: int
    reports: int = 0
    reporters: tuple[int, ...] = ()
    fraction_lost: float | None = None
    max_fraction_lost: float | None = None
    cumulative_lost: int | None = None
    highest_sequence: int | None = None
    jitter_ms: float | None = None
    max_jitter_ms: float | None = None
    round_trip: RoundTrip | None = None
    bye: bool = False
    bye_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (milliseconds rounded to the microsecond)."""
        rtt = self.round_trip
        return {
            "ssrc": self.ssrc,
            "reports": self.reports,
            "reporters": list(self.reporters),
            "fraction_lost": self.fraction_lost,
            "max_fraction_lost": self.max_fraction_lost,
            "cumulative_lost": self.cumulative_lost,
            "highest_sequence": self.highest_sequence,
            "jitter_ms": _ms(self.jitter_ms),
            "max_jitter_ms": _ms(self.max_jitter_ms),
            "round_trip_ms": None
            if rtt is None
            else {
                "samples": rtt.samples,
                "latest": _ms(rtt.latest_ms),
                "min": _ms(rtt.min_ms),
                "mean": _ms(rtt.mean_ms),
                "max": _ms(rtt.max_ms),
            },
            "bye": self.bye,
            "bye_reason": self.bye_reason,
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class SenderSession:
    """The RTCP side of one output stream: what to report, and what came back."""

    def __init__(
        self, ssrc: int, clock_rate: int, cname: str, *, interval_s: float = MIN_INTERVAL_S
    ) -> None:
        if not 0 <= ssrc <= _U32:
            raise InvalidInput(f"ssrc must be within 0..{_U32}, got {ssrc}", "ssrc")
        if clock_rate <= 0:
            raise InvalidInput(f"clock_rate must be positive, got {clock_rate}", "clock_rate")
        if not 0 < interval_s <= 3600:
            raise InvalidInput(
                f"interval_s must be within (0, 3600], got {interval_s}", "interval_s"
            )
        cname_chunk(ssrc, cname)  # refuses a CNAME that cannot be sent
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.cname = cname
        self.interval_ns = round(interval_s * _NS)
        self.packets = 0
        self.octets = 0
        self.invalid = 0  # datagrams given to receive() that were not valid RTCP
        self._last_rtp: tuple[int, int] | None = None  # (RTP timestamp, Unix ns)
        self._next_ns: int | None = None
        self._sent: deque[SentReport] = deque(maxlen=HISTORY)
        self._figures = ReceiverFigures(ssrc)
        self._rtt_sum = 0.0

    # --- what we send ------------------------------------------------------------------------

    def sent(self, packets: int, octets: int, rtp_timestamp: int, at_ns: int) -> None:
        """Count ``packets`` sent with ``octets`` payload bytes (RTP headers and padding
        excluded); the last of them carried ``rtp_timestamp`` and left at ``at_ns``."""
        if packets < 0 or octets < 0:
            raise InvalidInput(f"cannot send {packets} packets of {octets} octets", "packets")
        if not 0 <= rtp_timestamp <= _U32:
            raise InvalidInput(f"rtp_timestamp must be 32 bits, got {rtp_timestamp}", "timestamp")
        if not packets:
            return
        self.packets += packets
        self.octets += octets
        self._last_rtp = (rtp_timestamp, at_ns)
        if self._next_ns is None:
            self._next_ns = at_ns + self.interval_ns // 2

    @property
    def next_report_ns(self) -> int | None:
        """When the next sender report is due (Unix ns); None before the first packet."""
        return self._next_ns

    def poll(self, now_ns: int) -> bytes | None:
        """The SR compound (SR + SDES CNAME) to send now, or None if none is due yet."""
        if self._next_ns is None or now_ns < self._next_ns:
            return None
        return self.sender_report(now_ns)

    def sender_report(self, now_ns: int) -> bytes:
        """An SR compound for ``now_ns``, whether due or not; the next one is an interval on."""
        if self._last_rtp is None:
            raise Conflict("no media sent yet: a sender report needs a packet sent first")
        self._next_ns = now_ns + self.interval_ns
        return sr_compound(self._report(now_ns), self.cname)

    def goodbye(self, now_ns: int, reason: str = "") -> bytes:
        """The last compound: a final report, the CNAME, and a BYE for our SSRC."""
        last: SenderReport | ReceiverReport = (
            ReceiverReport(self.ssrc) if self._last_rtp is None else self._report(now_ns)
        )
        self._next_ns = None
        return bye_compound(last, self.cname, reason)

    def _report(self, now_ns: int) -> SenderReport:
        assert self._last_rtp is not None
        ts, at = self._last_rtp
        # The RTP time of the same instant as the NTP time: the last timestamp moved on by the
        # media clock (RFC 3550 6.4.1), so a receiver can line the stream up with wall time.
        rtp = (ts + (now_ns - at) * self.clock_rate // _NS) & _U32
        report = SenderReport(
            self.ssrc, ntp_from_unix_ns(now_ns), rtp, self.packets & _U32, self.octets & _U32
        )
        self._sent.append(
            SentReport(report.ntp_timestamp, rtp, report.packet_count, report.octet_count, now_ns)
        )
        return report

    @property
    def sent_reports(self) -> tuple[SentReport, ...]:
        """The last :data:`HISTORY` sender reports, oldest first."""
        return tuple(self._sent)

    # --- what comes back ---------------------------------------------------------------------

    def receive(self, datagram: bytes, now_ns: int) -> int:
        """Read one RTCP datagram that arrived at ``now_ns``; how many of its report blocks
        were about this stream. A datagram that is not valid RTCP is counted in
        :attr:`invalid` and otherwise ignored."""
        try:
            packets = parse_rtcp(datagram)
        except RtcpError:
            self.invalid += 1
            return 0
        return self.consume(packets, now_ns)

    def consume(self, packets: Sequence[RtcpPacket], now_ns: int) -> int:
        """Take the report blocks about our SSRC, and a BYE from a source that reported on
        us; how many blocks were ours."""
        mine = 0
        for p in packets:
            if isinstance(p, SenderReport | ReceiverReport):
                for block in p.reports:
                    if block.ssrc == self.ssrc:
                        self._take(p.ssrc, block, now_ns)
                        mine += 1
            elif isinstance(p, Bye) and self.knows(p.sources):
                self._figures = replace(self._figures, bye=True, bye_reason=p.reason_text)
        return mine

    def knows(self, sources: Sequence[int]) -> bool:
        """Whether any of ``sources`` has reported on this stream."""
        return any(s in self._figures.reporters for s in sources)

    def _take(self, reporter: int, block: ReportBlock, now_ns: int) -> None:
        f = self._figures
        fraction = block.fraction_lost / 256
        jitter = block.jitter * 1000 / self.clock_rate
        self._figures = replace(
            f,
            reports=f.reports + 1,
            reporters=f.reporters if reporter in f.reporters else (*f.reporters, reporter),
            fraction_lost=fraction,
            max_fraction_lost=max(fraction, f.max_fraction_lost or 0.0),
            cumulative_lost=block.packets_lost,
            highest_sequence=block.highest_sequence,
            jitter_ms=jitter,
            max_jitter_ms=max(jitter, f.max_jitter_ms or 0.0),
            round_trip=self._round_trip(block, now_ns, f.round_trip),
        )

    def _round_trip(
        self, block: ReportBlock, now_ns: int, rtt: RoundTrip | None
    ) -> RoundTrip | None:
        # Only an LSR that echoes one of our own reports gives a round trip: anything else is
        # stale or about another sender.
        if not block.lsr or all(s.compact != block.lsr for s in self._sent):
            return rtt
        units = _round_trip_units(compact_from_unix_ns(now_ns), block.lsr, block.dlsr)
        if units is None:
            return rtt
        ms = units * 1000 / COMPACT_HZ
        self._rtt_sum += ms
        n = 1 if rtt is None else rtt.samples + 1
        low = ms if rtt is None else min(rtt.min_ms, ms)
        high = ms if rtt is None else max(rtt.max_ms, ms)
        return RoundTrip(n, ms, low, self._rtt_sum / n, high)

    def figures(self) -> ReceiverFigures:
        """What the far end has reported about this stream so far."""
        return self._figures


@dataclass(frozen=True, slots=True)
class Received:
    """What one datagram brought: its packets (empty if invalid), how many report blocks
    reached a session, and the sources that said BYE (ours or the caller's)."""

    packets: tuple[RtcpPacket, ...]
    reports: int
    byes: tuple[int, ...]


class SenderSessions:
    """The sender sessions of a run by SSRC, for RTCP that arrives on a shared socket."""

    def __init__(self) -> None:
        self._by_ssrc: dict[int, SenderSession] = {}
        self.invalid = 0  # datagrams that were not valid RTCP
        self.last_error: str | None = None

    def add(self, session: SenderSession) -> None:
        """Start routing reports about ``session.ssrc`` to it."""
        if session.ssrc in self._by_ssrc:
            raise Conflict(f"a session for SSRC {session.ssrc} exists already")
        self._by_ssrc[session.ssrc] = session

    def remove(self, ssrc: int) -> SenderSession | None:
        """Stop routing to the session of ``ssrc`` and hand it back (None if there is none)."""
        return self._by_ssrc.pop(ssrc, None)

    def get(self, ssrc: int) -> SenderSession | None:
        """The session of ``ssrc``, if any."""
        return self._by_ssrc.get(ssrc)

    def __iter__(self) -> Iterator[SenderSession]:
        return iter(list(self._by_ssrc.values()))

    def __len__(self) -> int:
        return len(self._by_ssrc)

    def receive(self, datagram: bytes, now_ns: int) -> Received:
        """Parse one datagram and give it to every session it reports on (or whose reporter
        says BYE); an invalid one is counted, kept in :attr:`last_error`, and dropped."""
        try:
            packets = parse_rtcp(datagram)
        except RtcpError as e:
            self.invalid += 1
            self.last_error = e.message
            return Received((), 0, ())
        named: dict[int, None] = {}
        byes: list[int] = []
        for p in packets:
            if isinstance(p, SenderReport | ReceiverReport):
                named.update((b.ssrc, None) for b in p.reports if b.ssrc in self._by_ssrc)
            elif isinstance(p, Bye):
                byes.extend(p.sources)
        if byes:
            named.update((s.ssrc, None) for s in self._by_ssrc.values() if s.knows(byes))
        reports = sum(self._by_ssrc[ssrc].consume(packets, now_ns) for ssrc in named)
        return Received(packets, reports, tuple(byes))
