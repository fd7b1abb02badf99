"""Contracts: one per winner of an auction (A7), between a provider and a recipient, and their
lifecycle; and subcontracts (S10), between the provider of a contract and another provider
that does one of its steps (see :mod:`commex.domain.subcontracts`).

A contract is *awarded* at the close, *active* once its window opens (at once without a window),
and ends once: *completed* when its block is used up or its window ends, or *cancelled* when its
charge fails for the last time (non-payment) or by the operator, who says why. An ended
contract holds none of its provider's capacity, takes no more usage and is charged no more.

A subcontract is active from its award and ends once too: *completed* when the plane's check
closes it, or *cancelled* by the operator or with its parent (when the parent is cancelled).
The window and block rules of its parent do not end it: the plane closes it after its run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from commex.domain.errors import Conflict
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


IN_FORCE = frozenset({ContractStatus.AWARDED, ContractStatus.ACTIVE})


class EndReason(StrEnum):
    """Why a contract ended: the first three complete it, the others cancel it."""

    USED_UP = "used_up"
    WINDOW_ENDED = "window_ended"
    CHECKED = "checked"  # a subcontract, closed by the plane's check
    NON_PAYMENT = "non_payment"
    OPERATOR = "operator"
    PARENT_CANCELLED = "parent_cancelled"  # a subcontract, cancelled with its parent


_COMPLETING = frozenset({EndReason.USED_UP, EndReason.WINDOW_ENDED, EndReason.CHECKED})


@dataclass(frozen=True, slots=True)
class Contract:
    """The deal an auction made: who provides what to whom at which price, and how far along
    it is. ``created_at`` is the award; ``ended_at`` the completion or cancellation, with its
    ``end_reason``, what was said (``end_note``: the operator's reason, the gateway's answer)
    and the operator who cancelled it (``ended_by``). A subcontract has no bid: its recipient
    is the parent contract's provider, its price is per 1,000 packets, and ``auction_id`` is
    the parent's auction."""

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
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    end_note: str | None = None
    ended_by: str | None = None
    kind: ContractKind = ContractKind.AUCTION
    parent_contract_id: str | None = None

    @property
    def is_subcontract(self) -> bool:
        return self.kind is ContractKind.SUBCONTRACT

    @property
    def in_force(self) -> bool:
        """Awarded or active: it holds capacity, takes usage and may be charged."""
        return self.status in IN_FORCE

    @property
    def completed_at(self) -> datetime | None:
        return self.ended_at if self.status is ContractStatus.COMPLETED else None

    @property
    def cancelled_at(self) -> datetime | None:
        return self.ended_at if self.status is ContractStatus.CANCELLED else None


@dataclass(frozen=True, slots=True)
class Defaulted:
    """A winner whose contract was cancelled after the close (it did not pay, or the operator
    cancelled it), as the auction's outcome keeps it."""

    bid_id: str
    bidder_id: str
    contract_id: str
    reason: EndReason


def start(contract: Contract, now: datetime) -> Contract:
    """Start delivery (its window has opened): the contract becomes active from ``now``."""
    if contract.status is not ContractStatus.AWARDED:
        return contract
    return replace(contract, status=ContractStatus.ACTIVE, started_at=now)


def use(contract: Contract, used_ms: int, now: datetime) -> Contract:
    """The contract with ``used_ms`` of its block consumed; one whose block is used up is
    completed at ``now`` (its service is over, and the provider's capacity is free again). A
    subcontract is not: the plane's check closes it."""
    used = replace(contract, used_ms=used_ms)
    full = used_ms >= contract.terms.duration_s * 1000
    if full and contract.in_force and not contract.is_subcontract:
        return end(used, EndReason.USED_UP, now)
    return used


def window_over(contract: Contract, now: datetime) -> bool:
    """Whether the contract's usage window has ended by ``now`` (never, without a window)."""
    end_at = contract.terms.window_end
    return end_at is not None and end_at <= now


def end(
    contract: Contract,
    reason: EndReason,
    now: datetime,
    note: str | None = None,
    by_id: str | None = None,
) -> Contract:
    """End a contract in force, once: completed (block used up, window ended) or cancelled
    (non-payment, the operator). An ended contract is a conflict, naming how it ended."""
    if not contract.in_force:
        raise Conflict(f"contract {contract.id} {describe_end(contract)}; it cannot end again")
    status = ContractStatus.COMPLETED if reason in _COMPLETING else ContractStatus.CANCELLED
    return replace(
        contract, status=status, ended_at=now, end_reason=reason, end_note=note, ended_by=by_id
    )


_WHY = {
    EndReason.USED_UP: "its block was used up",
    EndReason.WINDOW_ENDED: "its window ended",
    EndReason.NON_PAYMENT: "its charge failed for the last time (non-payment)",
    EndReason.CHECKED: "the plane's check closed it",
    EndReason.OPERATOR: "by the operator",
    EndReason.PARENT_CANCELLED: "its parent contract was cancelled",
}


def describe_end(contract: Contract) -> str:
    """For people: ``was completed on 2026-03-01 14:00 UTC: its block was used up``."""
    if contract.ended_at is None or contract.end_reason is None:
        return f"is {contract.status.value}"
    at = contract.ended_at.strftime("%Y-%m-%d %H:%M UTC")
    why = _WHY[contract.end_reason]
    note = f" ({contract.end_note})" if contract.end_note else ""
    return f"was {contract.status.value} on {at}: {why}{note}"
