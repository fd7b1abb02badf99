"""What happened, as frozen facts the services publish after a commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from commex.domain.money import Money


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


# -- what people and programs hear of (notifications and webhooks) ------------------------------


@dataclass(frozen=True, slots=True)
class BidOutbid:
    """An english auction's leader lost the lead to another bidder (or to a proxy bid)."""

    auction_id: str
    title: str
    outbid_id: str
    price: Money  # the new standing price
    closes_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class AuctionClosingSoon:
    """A watched auction closes soon: its watchers (not yet reminded) are told once."""

    auction_id: str
    title: str
    closes_at: datetime
    watcher_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class ContractCompleted:
    """The contract's block is used up: its service is over."""

    contract_id: str
    provider_id: str
    recipient_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ContractCancelled:
    """The contract was cancelled (by moderation; nothing cancels one by itself yet)."""

    contract_id: str
    provider_id: str
    recipient_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChargeSettled:
    """An attempt at a charge ended: ``succeeded``, or ``declined`` (by the card, for want of
    one, or for the last time, ``final``); gateway errors that will be retried are not told."""

    charge_id: str
    contract_id: str
    payer_id: str
    amount: Money
    succeeded: bool
    code: str | None
    message: str | None
    next_attempt_at: datetime | None  # None when no further try is scheduled
    at: datetime


@dataclass(frozen=True, slots=True)
class GroupInvited:
    group_id: str
    group_name: str
    account_id: str
    inviter_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RatingReceived:
    rating_id: str
    contract_id: str
    rated_id: str
    role: str  # the rated account's role: provider or recipient
    satisfied: bool
    score: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryBreached:
    """A delivery ran below the contract's minimum rate (T4, R6)."""

    delivery_id: str
    contract_id: str
    provider_id: str
    recipient_id: str
    achieved_rate_bps: int
    min_rate_bps: int
    at: datetime
    # whose measure found it: "sender" (the rate sent) or "receiver" (the rate its receivers
    # reported getting, which ``achieved_rate_bps`` then is)
    measured_by: str = "sender"


@dataclass(frozen=True, slots=True)
class Notified:
    """These accounts' notification centres gained notices (live badges wake on it);
    ``everyone``: so may others' (an auction's losers, told in one statement)."""

    account_ids: tuple[str, ...]
    everyone: bool = False


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
    at: datetime


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
    | BidOutbid
    | AuctionClosingSoon
    | ContractCompleted
    | ContractCancelled
    | ChargeSettled
    | GroupInvited
    | RatingReceived
    | DeliveryBreached
    | Notified
    | ChargeAttempted
    | CredentialsChanged
    | SubcontractOpened
    | SubcontractClosed
)
