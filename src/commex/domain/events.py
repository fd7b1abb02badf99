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
    """An auction closed; ``by_id`` and ``reason`` name the operator closing it early."""

    auction_id: str
    winners: tuple[str, ...]
    closed_at: datetime
    by_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuctionCancelled:
    """An auction cancelled; ``by_id`` names the operator when it was the operator."""

    auction_id: str
    reason: str
    by_id: str | None = None


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
class ContractCompleted:
    """The service is over: the block was used up or the window ended (``reason``)."""

    contract_id: str
    provider_id: str
    recipient_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ContractCancelled:
    """A contract was cancelled: for non-payment (``by_id`` None), or by the operator."""

    contract_id: str
    auction_id: str
    provider_id: str
    recipient_id: str
    reason: str
    note: str
    by_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AuctionReawarded:
    """A cancelled contract's block went to the next qualifying bid: a new contract."""

    auction_id: str
    cancelled_contract_id: str
    contract_id: str
    bid_id: str
    bidder_id: str
    price: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AuctionUnsold:
    """A cancelled contract's block went to nobody (no qualifying bid, or not a sealed
    forward auction): it is reported unsold."""

    auction_id: str
    cancelled_contract_id: str
    why: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AccountSuspended:
    """The operator suspended an account; ``withdrawn`` are its open bids taken back."""

    account_id: str
    by_id: str
    reason: str
    at: datetime
    withdrawn: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountReinstated:
    account_id: str
    by_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TokenRotated:
    """An account's API token was replaced; the old one stopped working."""

    account_id: str
    by_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Every web session of an account was ended (logging out everywhere, a new password)."""

    account_id: str
    by_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """An account's password was changed (by its owner, ``how`` "changed") or set through a
    reset link (``how`` "reset"); its other sessions ended."""

    account_id: str
    by_id: str
    how: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PasswordResetIssued:
    """The operator issued a one-time password-reset link for an account."""

    account_id: str
    by_id: str
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class DeviceRevoked:
    """A device was deregistered; its token stopped working."""

    device_id: str
    recipient_id: str
    by_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RatingHidden:
    """The operator hid a rating: it left the rated reputation; the rater and the rated are
    to be told."""

    rating_id: str
    contract_id: str
    rater_id: str
    rated_id: str
    by_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChargeRefunded:
    """The operator refunded (part of) a charge through the gateway: a negative payout."""

    charge_id: str
    refund_id: str
    payer_id: str
    provider_id: str
    amount: str
    currency: str
    by_id: str | None  # None: the exchange refunded it by itself
    reason: str
    at: datetime


Moderation = (
    AccountSuspended
    | AccountReinstated
    | TokenRotated
    | SessionsEnded
    | PasswordChanged
    | PasswordResetIssued
    | DeviceRevoked
    | RatingHidden
    | ChargeRefunded
    | ContractCancelled
)

MODERATION_EVENTS: tuple[type[Moderation], ...] = (
    AccountSuspended, AccountReinstated, TokenRotated, SessionsEnded, PasswordChanged,
    PasswordResetIssued, DeviceRevoked, RatingHidden, ChargeRefunded, ContractCancelled,
)  # fmt: skip

Lifecycle = ContractCompleted | ContractCancelled | AuctionReawarded | AuctionUnsold


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
    | ChargeSettled
    | GroupInvited
    | RatingReceived
    | DeliveryBreached
    | Notified
    | Lifecycle
    | Moderation
    | ChargeAttempted
    | CredentialsChanged
    | SubcontractOpened
    | SubcontractClosed
)
