"""RTCP for a live run (S9): a sender session per output stream, BYE from the input.

:class:`RtcpControl` is the :class:`~commex.stream.control.Control` the runtime uses unless
told otherwise. Each output stream gets a :class:`~commex.stream.rtcpsession.SenderSession`
once it has sent a packet; the runtime's counts (cumulative) are turned into the increments a
session takes, and the sender reports that are due go out. Receiver reports that come back
are routed to the sessions they are about, so what the receiver measured ends up in the run's
report and in the delivery reported to the exchange. On the input side only BYE matters: it
ends the caller's stream. Malformed RTCP is counted, never raised.
"""

from __future__ import annotations

import socket

from commex.stream.control import SenderState
from commex.stream.rtcp import Bye, RtcpError, parse_rtcp
from commex.stream.rtcpsession import (
    MIN_INTERVAL_S,
    ReceiverFigures,
    SenderSession,
    SenderSessions,
)

CLOCK_HZ = 8000  # the G.711 family's RTP clock, that of the streams commex relays
POLL_S = 1.0  # how often the runtime asks for the reports that are due


def default_cname() -> str:
    """A CNAME for this host's sender reports (RFC 3550 6.5.1: ``user@host`` style)."""
    return f"commex@{socket.gethostname()}"[:255]


class RtcpControl:
    """Sender reports for every output stream, their receivers' reports, and BYE."""

    interval_s = POLL_S

    def __init__(self, cname: str | None = None, *, report_every_s: float = MIN_INTERVAL_S) -> None:
        self.cname = cname or default_cname()
        self.report_every_s = report_every_s
        self.sessions = SenderSessions()
        self.invalid = 0
        self._counted: dict[int, tuple[int, int]] = {}

    def heard(self, datagrams: list[bytes], now: float, *, side: str) -> list[int]:
        now_ns = int(now * 1e9)
        if side == "output":
            for datagram in datagrams:
                self.sessions.receive(datagram, now_ns)
            self.invalid = self.sessions.invalid
            return []
        byes: list[int] = []
        for datagram in datagrams:
            try:
                packets = parse_rtcp(datagram)
            except RtcpError:
                self.invalid += 1
                continue
            byes.extend(s for p in packets if isinstance(p, Bye) for s in p.sources)
        return byes

    def reports(self, senders: list[SenderState], now: float) -> list[bytes]:
        now_ns = int(now * 1e9)
        out = []
        for state in senders:
            session = self.sessions.get(state.ssrc)
            if session is None:
                session = SenderSession(state.ssrc, CLOCK_HZ, self.cname,
                                        interval_s=self.report_every_s)  # fmt: skip
                self.sessions.add(session)
            packets, octets = self._counted.get(state.ssrc, (0, 0))
            if state.packets > packets:
                more, octets = state.packets - packets, max(0, state.octets - octets)
                at_ns = int(state.sent_at * 1e9)
                session.sent(more, octets, state.rtp_timestamp & 0xFFFFFFFF, at_ns)
                self._counted[state.ssrc] = (state.packets, state.octets)
            report = session.poll(now_ns)
            if report is not None:
                out.append(report)
        return out

    def ended(self, ssrc: int, now: float) -> list[bytes]:
        self._counted.pop(ssrc, None)
        session = self.sessions.remove(ssrc)
        return [] if session is None else [session.goodbye(int(now * 1e9))]

    def receiver(self, ssrc: int) -> ReceiverFigures | None:
        session = self.sessions.get(ssrc)
        if session is None or not session.figures().reports:
            return None
        return session.figures()
