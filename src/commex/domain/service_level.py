"""Delivered rate against the terms (T4) and the evidence it leaves (R6).

The packet plane measures the rate it achieved for a contract's streams and reports each
delivery. A delivery of a contract with a minimum rate is *measured*; one below that minimum is
a *breach*. The counts of both, over the reputation window, are shown beside the provider's
reputation wherever it appears, as objective evidence next to the ratings people gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from commex.domain.errors import InvalidInput

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

    @property
    def breach(self) -> bool:
        """Delivered below the contract's minimum rate."""
        return self.min_rate_bps is not None and self.achieved_rate_bps < self.min_rate_bps


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """A provider's measured deliveries and breaches in the reputation window."""

    measured: int = 0
    breaches: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"measured": self.measured, "breaches": self.breaches}

    def describe(self) -> str:
        """For people: ``no measured deliveries`` or ``1 of 4 measured deliveries below the
        minimum rate``."""
        if self.measured == 0:
            return "no measured deliveries"
        noun = "delivery" if self.measured == 1 else "deliveries"
        if self.breaches == 0:
            return f"{self.measured} measured {noun}, none below the minimum rate"
        return f"{self.breaches} of {self.measured} measured {noun} below the minimum rate"


def check_count(value: object, field: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidInput(f"{field} must be a whole number from 0 to {high}", field)
    return value


def check_achieved(value: object) -> int:
    return check_count(value, "achieved_rate_bps", MAX_ACHIEVED_BPS)


def check_packets(value: object) -> int:
    return check_count(value, "packets", MAX_PACKETS)
