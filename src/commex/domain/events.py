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
class CredentialsChanged:
    """An account's API token stopped being what it was (rotated, revoked, or the account
    suspended): whatever remembered who the old token belonged to must forget it."""

    account_id: str


Event = (
    BidPlaced
    | AuctionClosed
    | AuctionCancelled
    | ContractAwarded
    | ContractStarted
    | CredentialsChanged
)
