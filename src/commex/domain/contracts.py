"""Contracts: one per winner of an auction (A7), between a provider and a recipient; and
subcontracts (S10), between the provider of a contract and another provider that does one of
its steps (see :mod:`commex.domain.subcontracts`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from commex.domain.money import Money
from commex.domain.terms import ServiceTerms


class ContractKind(StrEnum):
    """How a contract was made: won in an auction, or awarded at once from another provider's
    processing offer under a parent contract."""

    AUCTION = "auction"
    SUBCONTRACT = "subcontract"


class ContractStatus(StrEnum):
    AWARDED = "awarded"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Contract:
    """The deal an auction made: who provides what to whom at which price. A subcontract has no
    bid: its recipient is the parent contract's provider, its price is per 1,000 packets, and
    ``auction_id`` is the parent's auction."""

    id: str
    auction_id: str
    bid_id: str | None
    provider_id: str
    recipient_id: str
    price: Money
    terms: ServiceTerms
    status: ContractStatus
    created_at: datetime
    started_at: datetime | None = None
    used_ms: int = 0  # of the block, by every member together (see commex.domain.usage)
    kind: ContractKind = ContractKind.AUCTION
    parent_contract_id: str | None = None

    @property
    def is_subcontract(self) -> bool:
        return self.kind is ContractKind.SUBCONTRACT


def start(contract: Contract, now: datetime) -> Contract:
    """Start delivery (its window has opened): the contract becomes active from ``now``."""
    if contract.status is not ContractStatus.AWARDED:
        return contract
    return replace(contract, status=ContractStatus.ACTIVE, started_at=now)


def use(contract: Contract, used_ms: int) -> Contract:
    """The contract with ``used_ms`` of its block consumed; one whose block is used up is
    completed (its service is over, and the provider's capacity is free again)."""
    done = used_ms >= contract.terms.duration_s * 1000
    status = ContractStatus.COMPLETED if done else contract.status
    return replace(contract, used_ms=used_ms, status=status)
