"""What happened, as frozen facts the services publish after a commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BidPlaced:
    auction_id: str
    bid_id: str
    bid_count: int
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class AuctionClosed:
    auction_id: str
    winners: tuple[str, ...]
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class AuctionCancelled:
    auction_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContractAwarded:
    contract_id: str
    auction_id: str
    provider_id: str
    recipient_id: str


@dataclass(frozen=True, slots=True)
class ContractStarted:
    """The service begins: the contract's window opened (or it was awarded without one)."""

    contract_id: str
    provider_id: str
    recipient_id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class ChargeAttempted:
    """An attempt to charge a payer ended: ``succeeded``, ``declined``, ``no_card`` or
    ``error`` (see :func:`commex.domain.charges.attempt_outcome`)."""

    charge_id: str
    contract_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class CredentialsChanged:
    """An account's API token stopped being what it was (rotated, revoked, or the account
    suspended): whatever remembered who the old token belonged to must forget it."""

    account_id: str


@dataclass(frozen=True, slots=True)
class SubcontractOpened:
    """A provider awarded a step of its contract to another provider's offer (S10)."""

    subcontract_id: str
    parent_contract_id: str
    step: str
    provider_id: str  # the subcontractor
    recipient_id: str  # the subcontracting provider


@dataclass(frozen=True, slots=True)
class SubcontractClosed:
    """The subcontracting plane's check closed a subcontract: its subcontractor is rated and
    its packets are charged."""

    subcontract_id: str
    outcome: str
    packets: int
    closed_at: datetime


Event = (
    BidPlaced
    | AuctionClosed
    | AuctionCancelled
    | ContractAwarded
    | ContractStarted
    | ChargeAttempted
    | CredentialsChanged
    | SubcontractOpened
    | SubcontractClosed
)
