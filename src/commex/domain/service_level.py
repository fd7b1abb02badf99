"""Delivered rate against the terms (T4) and the evidence it leaves (R6).

The packet plane measures the rate it achieved for a contract's streams and reports each
delivery. A delivery of a contract with a minimum rate is *measured*; one below that minimum is
a *breach*: below by the provider's own measure (the rate it sent), or, when the receiving side
reported over RTCP, by the receiver's (what it got of that rate in its worst interval). The
counts of both, over the reputation window, are shown beside the provider's reputation wherever
it appears, as objective evidence next to the ratings people gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from commex.domain.errors import InvalidInput
from commex.domain.receiver import ReceiverReport

MAX_PACKETS = 10**12
MAX_ACHIEVED_BPS = 10**12


@dataclass(frozen=True, slots=True)
class Delivery:
    """One run of the packet plane for a contract, as the provider's plane reported it."""

    id: str
    contract_id: str
    provider_id: str
    run_id: str
    reported_ms: int
    accepted_ms: int
    bytes: int
    packets: int
    achieved_rate_bps: int
    min_rate_bps: int | None
    created_at: datetime
    receiver: ReceiverReport | None = None

    @property
    def breach_by(self) -> str | None:
        """Which side's measure found the delivery below the contract's minimum rate:
        ``"sender"`` (the rate the provider's plane sent), ``"receiver"`` (what the receiver
        reported it got), or None when neither did."""
        if self.min_rate_bps is None:
            return None
        if self.achieved_rate_bps < self.min_rate_bps:
            return "sender"
        got = None if self.receiver is None else self.receiver.received_rate_bps
        if got is not None and got(self.achieved_rate_bps) < self.min_rate_bps:
            return "receiver"
        return None

    @property
    def breach(self) -> bool:
        """Delivered below the contract's minimum rate, by either side's measure."""
        return self.breach_by is not None


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """A provider's measured deliveries and breaches in the reputation window, by count and by
    stream-seconds. The share of time in breach is what counts: many tiny deliveries at the
    right rate do not dilute one long one below it."""

    measured: int = 0
    breaches: int = 0
    measured_ms: int = 0
    breached_ms: int = 0

    def to_dict(self) -> dict[str, int | float]:
        return {
            "measured": self.measured,
            "breaches": self.breaches,
            "measured_seconds": _seconds(self.measured_ms),
            "breached_seconds": _seconds(self.breached_ms),
        }

    def describe(self) -> str:
        """For people: ``no measured deliveries``, or ``12% of 480 measured stream-seconds below
        the minimum rate (1 of 4 deliveries)``."""
        if self.measured == 0:
            return "no measured deliveries"
        noun = "delivery" if self.measured == 1 else "deliveries"
        total = _seconds(self.measured_ms)
        if self.breaches == 0:
            return f"{total} measured stream-seconds, none below the minimum rate"
        share = _share(self.breached_ms, self.measured_ms)
        return (
            f"{share}% of {total} measured stream-seconds below the minimum rate "
            f"({self.breaches} of {self.measured} {noun})"
        )


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else round(ms / 1000, 3)


def _share(part: int, total: int) -> int:
    """A whole percentage that is 0 only when nothing is in breach and 100 only when all is."""
    if total <= 0:
        return 100
    share = round(100 * part / total)
    return min(99, max(1, share)) if 0 < part < total else share


def check_count(value: object, field: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidInput(f"{field} must be a whole number from 0 to {high}", field)
    return value


def check_achieved(value: object) -> int:
    return check_count(value, "achieved_rate_bps", MAX_ACHIEVED_BPS)


def check_packets(value: object) -> int:
    return check_count(value, "packets", MAX_PACKETS)
