"""RTCP hooks (S9): the runtime's side of sender reports, receiver reports and BYE.

The runtime owns the sockets. RTCP that arrives on the input side (on the RTP port itself,
told apart by packet type as RFC 5761 says, or on the port above it) and on the output side
(the receiver's reports come back to the port the relay sends from, or the one above) is
handed to a :class:`Control` as raw datagrams; the control answers which input streams said
BYE. Every ``interval_s`` the runtime tells it what each output stream has sent and sends the
compound packets it gets back to the receiver, and when an output stream ends it sends the
BYE it is given. What the receiver measured is asked per stream for the report.
:class:`~commex.stream.rtcpcontrol.RtcpControl` is the real one (over the codec and sessions
of :mod:`commex.stream.rtcp` and :mod:`commex.stream.rtcpsession`); :class:`NoControl` is the
stand-in that sends and hears nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from commex.stream.rtcpsession import ReceiverFigures


@dataclass(frozen=True, slots=True)
class SenderState:
    """What one output stream has sent so far: packets, payload octets (RFC 3550's sender
    octet count), and the RTP timestamp of its last packet with the wall-clock time (epoch
    seconds) it left at."""

    ssrc: int
    packets: int
    octets: int
    rtp_timestamp: int
    sent_at: float


class Control(Protocol):
    """The RTCP side of a live run (see the module notes)."""

    interval_s: float

    def heard(self, datagrams: list[bytes], now: float, *, side: str) -> list[int]:
        """Take RTCP datagrams from the ``input`` or ``output`` side, received at ``now``
        (epoch seconds); the SSRCs of input streams that said BYE. A malformed datagram is
        counted and dropped, never raised."""
        ...

    def reports(self, senders: list[SenderState], now: float) -> list[bytes]:
        """The compound packets (sender reports) to send to the receiver now."""
        ...

    def ended(self, ssrc: int, now: float) -> list[bytes]:
        """The packets that end output stream ``ssrc`` (a BYE)."""
        ...

    def receiver(self, ssrc: int) -> ReceiverFigures | None:
        """What the receiver reported of output stream ``ssrc``, if anything."""
        ...


class NoControl:
    """No RTCP: nothing is sent and what arrives is dropped."""

    interval_s = math.inf

    def heard(self, datagrams: list[bytes], now: float, *, side: str) -> list[int]:
        return []

    def reports(self, senders: list[SenderState], now: float) -> list[bytes]:
        return []

    def ended(self, ssrc: int, now: float) -> list[bytes]:
        return []

    def receiver(self, ssrc: int) -> ReceiverFigures | None:
        return None
