"""Contracts: one per winner of an auction (A7), between a provider and a recipient."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from commex.domain.money import Money
from commex.domain.terms import ServiceTerms


class ContractStatus(StrEnum):
    AWARDED = "awarded"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Contract:
    """The deal an auction made: who provides what to whom at which price."""

    id: str
    auction_id: str
    bid_id: str
    provider_id: str
    recipient_id: str
    price: Money
    terms: ServiceTerms
    status: ContractStatus
    created_at: datetime
    started_at: datetime | None = None
    used_ms: int = 0  # of the block, by every member together (see commex.domain.usage)


def start(contract: Contract, now: datetime) -> Contract:
    """Start delivery (its window has opened): the contract becomes active from ``now``."""
    if contract.status is not ContractStatus.AWARDED:
        return contract
    return replace(contract, status=ContractStatus.ACTIVE, started_at=now)
