"""What a receiver measures about one incoming source, one packet at a time (RFC 3550 A.1,
A.3, A.8), and the report block it sends back.

The run measures its own input streams the same way, many streams at once
(:class:`commex.stream.streamstats.InStats`); a receiver keeps these few numbers per
source. Sequence numbers are
extended over their 16-bit wrap; a jump of more than ``MAX_DROPOUT`` ahead is taken for a
restarted source only when the next packet follows it (A.1), so one stray packet cannot reset
the counts. The caller passes every arrival time (Unix ns); nothing reads a clock here.
"""

from __future__ import annotations

from dataclasses import dataclass

from commex.domain.errors import InvalidInput
from commex.stream.ntptime import compact, compact_units
from commex.stream.rtcp import ReportBlock, SenderReport

MAX_DROPOUT = 3000
MAX_MISORDER = 100
_SEQ_MOD = 1 << 16
_NS = 1_000_000_000
_LOST_MIN, _LOST_MAX = -(1 << 23), (1 << 23) - 1


@dataclass
class _Interval:
    expected: int = 0
    received: int = 0


class ReceptionStats:
    """Loss, extended highest sequence and interarrival jitter of one source, as it arrives."""

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise InvalidInput(f"clock_rate must be positive, got {clock_rate}", "clock_rate")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.received = 0
        self._started = False
        self._base = 0
        self._max = 0
        self._cycles = 0
        self._bad: int | None = None
        self._prior = _Interval()
        self._jitter = 0.0  # in timestamp units
        self._last: tuple[int, int] | None = None  # (arrival ns, RTP timestamp)
        self._last_sr: tuple[int, int] | None = None  # (compact NTP, arrival ns)

    def packet(self, seq: int, rtp_timestamp: int, arrival_ns: int) -> bool:
        """Count one packet; False when it was set aside as a stray jump (A.1)."""
        if not self._started:
            self._started = True
            self._restart(seq)
        elif not self._sequence(seq):
            return False
        self.received += 1
        self._update_jitter(rtp_timestamp, arrival_ns)
        return True

    def _restart(self, seq: int) -> None:
        self._base = self._max = seq
        self._cycles = 0
        self.received = 0
        self._prior = _Interval()
        self._bad = None

    def _sequence(self, seq: int) -> bool:
        delta = (seq - self._max) % _SEQ_MOD
        if delta < MAX_DROPOUT:
            if seq < self._max:
                self._cycles += _SEQ_MOD
            self._max = seq
        elif delta <= _SEQ_MOD - MAX_MISORDER:
            if seq != self._bad:
                self._bad = (seq + 1) % _SEQ_MOD
                return False
            self._restart(seq)  # two in a row: the source restarted its numbering
            self._last = None
        # otherwise a duplicate or a late packet: counted, the highest stays
        return True

    def _update_jitter(self, rtp_timestamp: int, arrival_ns: int) -> None:
        last = self._last
        self._last = (arrival_ns, rtp_timestamp)
        if last is None:
            return
        sent = (rtp_timestamp - last[1] + (1 << 31)) % (1 << 32) - (1 << 31)
        d = (arrival_ns - last[0]) * self.clock_rate / _NS - sent
        self._jitter += (abs(d) - self._jitter) / 16

    def sender_report(self, report: SenderReport, arrival_ns: int) -> None:
        """Remember the source's last sender report, for the LSR and DLSR of the next block."""
        self._last_sr = (compact(report.ntp_timestamp), arrival_ns)

    @property
    def extended_highest(self) -> int:
        """The highest sequence number received, with the wrap count in the high 16 bits."""
        return self._cycles + self._max

    @property
    def expected(self) -> int:
        """How many packets the source has sent since the first one received (A.3)."""
        return self.extended_highest - self._base + 1 if self.received else 0

    @property
    def lost(self) -> int:
        """Packets expected but not received; negative when duplicates outnumber losses."""
        return self.expected - self.received

    @property
    def jitter(self) -> float:
        """The interarrival jitter estimate, in RTP timestamp units (A.8)."""
        return self._jitter

    @property
    def jitter_ms(self) -> float:
        """The interarrival jitter estimate in milliseconds."""
        return self._jitter * 1000 / self.clock_rate

    def report_block(self, now_ns: int) -> ReportBlock:
        """The block to send now; it starts a new interval for the fraction lost (A.3)."""
        expected, received = self.expected, self.received
        interval_expected = expected - self._prior.expected
        interval_lost = interval_expected - (received - self._prior.received)
        self._prior = _Interval(expected, received)
        fraction = 0
        if interval_expected > 0 and interval_lost > 0:
            fraction = min((interval_lost << 8) // interval_expected, 255)
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = compact_units(max(now_ns - self._last_sr[1], 0))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=min(max(self.lost, _LOST_MIN), _LOST_MAX),
            highest_sequence=self.extended_highest & 0xFFFFFFFF,
            jitter=min(int(self._jitter), 0xFFFFFFFF),
            lsr=lsr,
            dlsr=dlsr,
        )
