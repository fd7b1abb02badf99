"""Commands: typed, frozen requests to change the exchange, the only way in for a change.

The API, the pages, the command line and library users build them; the message bus hands each
to the one handler of its type (see :mod:`commex.services.handlers`), which answers with the
typed result named in its base (``Command[Result]``). Fields hold what a caller has in hand:
ids, words for enums (``"forward"``), amounts as decimal text (``"12.50"``), times as
datetimes or ISO 8601 text. The handlers check every field and name the field of a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from commex.domain.auctions import Auction
from commex.domain.charges import Charge
from commex.domain.contracts import Contract
from commex.domain.groups import GroupMember
from commex.domain.members import Member
from commex.domain.payment_methods import PaymentMethod
from commex.domain.ratings import Rating
from commex.domain.usage import UsageSession

# The parts commands are built from, offered here too (explicit re-exports):
from commex.services.messages import Caller as Caller  # noqa: PLC0414
from commex.services.messages import Command as Command  # noqa: PLC0414
from commex.services.messages import Eligibility as Eligibility  # noqa: PLC0414
from commex.services.messages import Message as Message  # noqa: PLC0414
from commex.services.messages import Terms as Terms  # noqa: PLC0414
from commex.services.results import (
    AuctionView,
    CapacityView,
    CardRemoved,
    ChargeRun,
    DeliveryAnswer,
    GroupView,
    OfferLine,
    PlacedBid,
    Registered,
    RegisteredDevice,
    UsageReport,
    WebSession,
)

# -- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register(Command[Registered]):
    """Open an account with an API token and, given a password, a web login by its name, in
    one transaction; ``owner_id`` makes it another account of that owner."""

    name: str
    roles: tuple[str, ...]
    password: str | None = None
    operator: bool = False
    owner_id: str | None = None
    client: str | None = None  # the caller's network address, for the signup throttle


@dataclass(frozen=True, slots=True)
class RotateToken(Command[str]):
    """A new API token for the account (shown once); the old one stops working."""

    account_id: str


@dataclass(frozen=True, slots=True)
class Login(Command[WebSession]):
    """Start a web session by name and password (throttled per name and client address)."""

    name: str
    password: str
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Logout(Command[None]):
    """End the web session behind a cookie value."""

    token: str


# -- auctions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAuction(Command[AuctionView]):
    """Open a forward (sell blocks) or reverse (buy a service) auction (SPEC section 8)."""

    owner_id: str
    direction: str
    format: str
    title: str
    terms: Terms
    currency: str
    closes_at: datetime | str
    quantity: int | None = None
    reserve: str | None = None
    min_increment: str | None = None
    soft_close_s: int | None = None
    reputation_weight: str | float | Decimal | None = None
    eligibility: Eligibility | None = None


@dataclass(frozen=True, slots=True)
class PlaceBid(Command[PlacedBid]):
    """Bid; with an ``idempotency_key`` a retry answers the first bid and never bids twice."""

    auction_id: str
    bidder_id: str
    amount: str
    max_amount: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CloseAuction(Command[AuctionView]):
    """Close and award: the operator any time (with a reason when early), the owner once due;
    ``by_id`` None is the scheduler. Closing again answers the stored outcome."""

    auction_id: str
    by_id: str | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAuction(Command[AuctionView]):
    """Cancel: the owner while there are no bids, the operator any time with a reason."""

    auction_id: str
    by_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CloseDue(Command[list[Auction]]):
    """Close every auction whose time has come, each in its own transaction."""

    limit: int = 100


@dataclass(frozen=True, slots=True)
class StartDue(Command[list[Contract]]):
    """Start the contracts whose usage window has opened."""

    limit: int = 100


@dataclass(frozen=True, slots=True)
class CompleteDue(Command[list[Contract]]):
    """Complete the contracts in force whose usage window has ended."""

    limit: int = 100


@dataclass(frozen=True, slots=True)
class PublishOffer(Command[OfferLine]):
    """A provider's processing offer: its node, the steps it performs and its price per 1,000
    packets (replacing its previous one)."""

    provider_id: str
    node_url: str
    capabilities: tuple[str, ...]
    price: str
    currency: str


# -- contracts in use ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddMember(Command[Member]):
    """The recipient shares its contract with exactly one of a device, a recipient account or
    a telephone number."""

    contract_id: str
    caller_id: str
    device_id: str | None = None
    account_id: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveMember(Command[Member]):
    """The recipient takes a member off its contract (its usage stays on record)."""

    contract_id: str
    caller_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class StartSession(Command[UsageReport]):
    """Open a usage session for a member."""

    contract_id: str
    caller: Caller
    member_id: str


@dataclass(frozen=True, slots=True)
class EndSession(Command[UsageSession]):
    """End an open usage session without reporting more."""

    contract_id: str
    caller: Caller
    session_id: str


@dataclass(frozen=True, slots=True)
class ReportUsage(Command[UsageReport]):
    """Meter seconds a member used into the block (into an open session, or a session of its
    own); what would pass the block or the window is cut and said why."""

    contract_id: str
    caller: Caller
    member_id: str
    seconds: str | int | float | None  # None (none given) is refused naming the field
    bytes: int | None = None
    session_id: str | None = None
    end: bool = False


@dataclass(frozen=True, slots=True)
class RecordDelivery(Command[DeliveryAnswer]):
    """The provider's packet plane reports a run (S7): metered once per ``run_id``."""

    contract_id: str
    provider_id: str
    run_id: str
    seconds: str | int | float
    bytes: int
    packets: int
    achieved_rate_bps: int
    receiver: Mapping[str, object] | None = None  # the receiver's RTCP figures (S9), if any


@dataclass(frozen=True, slots=True)
class SetCapacity(Command[CapacityView]):
    """Declare the provider's capacity in bit/s (T5)."""

    provider_id: str
    capacity_bps: int


@dataclass(frozen=True, slots=True)
class RegisterDevice(Command[RegisteredDevice]):
    """Register a client device of one of the recipient's users (its token shown once)."""

    recipient_id: str
    name: str
    user: str
    phone_numbers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rate(Command[Rating]):
    """Rate the other side of a contract, from an account or a member device, once. The
    handler takes only a boolean ``satisfied`` and a whole ``score`` from 1 to 5; a form's
    text is passed as typed, to be refused naming its field."""

    contract_id: str
    satisfied: bool | str | None
    score: int | str | None = None
    comment: str | None = None
    account_id: str | None = None
    device_id: str | None = None


# -- groups --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateGroup(Command[GroupView]):
    """Form a group; its creator pays (and pledges) when it gives a pledge."""

    creator_id: str
    name: str
    currency: str
    rule: str | None = None
    pledge: str | None = None


@dataclass(frozen=True, slots=True)
class InviteToGroup(Command[GroupMember]):
    """The group's creator invites a recipient account."""

    group_id: str
    inviter_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class AnswerGroup(Command[GroupView | None]):
    """Join as ``payer`` (with a pledge) or ``non-payer``, or ``decline`` or ``leave``; the
    answer is the group as the member now sees it, or None once it is out."""

    group_id: str
    account_id: str
    answer: str
    pledge: str | None = None


@dataclass(frozen=True, slots=True)
class Sponsor(Command[GroupView]):
    """Set the non-payers a payer sponsors (replacing its earlier list)."""

    group_id: str
    payer_id: str
    sponsored: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OpenGroupAuction(Command[AuctionView]):
    """The creator opens the group's reverse auction; its ceiling (``reserve``) is at most, and
    by default, what the payers pledged."""

    group_id: str
    caller_id: str
    format: str
    title: str
    terms: Terms
    closes_at: datetime | str
    direction: str | None = None
    currency: str | None = None
    reserve: str | None = None
    min_increment: str | None = None
    soft_close_s: int | None = None
    reputation_weight: str | float | Decimal | None = None
    eligibility: Eligibility | None = None


# -- billing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeDue(Command[ChargeRun]):
    """Create the charges of newly awarded contracts and attempt those due."""

    limit: int = 100


@dataclass(frozen=True, slots=True)
class RetryCharges(Command[list[Charge]]):
    """The payer asks for an attempt on its pending charge now ("pay now")."""

    contract_id: str
    payer_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class AddCard(Command[PaymentMethod]):
    """Save a card through the payment gateway; only its token, brand, last four digits and
    expiry are kept."""

    account_id: str
    number: str
    exp_month: int | str
    exp_year: int | str
    cvc: str
    client: str | None = None  # the caller's network address, for the card-save throttle


@dataclass(frozen=True, slots=True)
class RemoveCard(Command[CardRemoved]):
    """Remove one of the caller's cards."""

    account_id: str
    method_id: str


@dataclass(frozen=True, slots=True)
class MakeDefaultCard(Command[PaymentMethod]):
    """Charge the caller on this card from now on."""

    account_id: str
    method_id: str
