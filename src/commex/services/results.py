"""What the handlers answer: typed results that hold everything a caller shows, so a route, a
page or a command answers without reading again. Wire shapes of them live in
:mod:`commex.api.wire`; words for people in :mod:`commex.presentation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Direction
from commex.domain.audit import AuditEntry
from commex.domain.billing import describe
from commex.domain.charges import Charge, Payout
from commex.domain.contracts import Contract
from commex.domain.groups import Group, GroupMember, MemberState
from commex.domain.members import Device, Member
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.paging import Key
from commex.domain.payment_methods import PaymentMethod
from commex.domain.ratings import Rating
from commex.domain.reputation import Reputation
from commex.domain.service_level import Delivery
from commex.domain.usage import MemberUsage, Metered, UsageSession

if TYPE_CHECKING:
    from commex.services.subcontract_results import SubcontractLine

# -- parties and accounts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Party:
    """An account as others see it: its name, its reputation in one role, and what stands
    behind the name (O3, against impersonation): since when the account exists, and its
    verified payments (charges that succeeded, paid or paid to it; None where not looked up)."""

    id: str
    name: str
    role: Role
    reputation: Reputation
    since: datetime | None = None
    payments: int | None = None


def party(
    account: Account | None,
    account_id: str,
    role: Role,
    rep: Reputation,
    payments: Mapping[str, int] | None = None,
) -> Party:
    """The party, with its verified payments when ``payments`` (by account id) is given."""
    name = account.name if account else account_id
    since = account.created_at if account else None
    paid = None if payments is None else payments.get(account_id, 0)
    return Party(account_id, name, role, rep, since, paid)


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account with its reputation in both roles."""

    account: Account
    as_provider: Reputation
    as_recipient: Reputation


@dataclass(frozen=True, slots=True)
class Registered:
    """A new account and its API token (shown this once, never stored in clear)."""

    account: Account
    token: str


@dataclass(frozen=True, slots=True)
class WebSession:
    """A logged-in browser: the cookie value (only here in clear), its CSRF token, its account."""

    token: str
    csrf: str
    account: Account


# -- auctions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BidView:
    """A bid as a viewer sees it: its bidder's reputation, and where ranks apply, the effective
    price (reverse auctions) and its rank (after the close)."""

    bid: Bid
    bidder: Party
    effective_price: Decimal | None
    rank: int | None


@dataclass(frozen=True, slots=True)
class PlacedBid:
    """A bid just accepted, as its bidder sees it: what the bid's answer shows, read in the
    transaction that placed it."""

    view: BidView
    bidder_role: Role

    @property
    def bid(self) -> Bid:
        return self.view.bid

    @property
    def bidder(self) -> Party:
        return self.view.bidder


@dataclass(frozen=True, slots=True)
class GroupBadge:
    """What every bidder of a group's auction sees of the group: who will pay, and how much
    each pledged."""

    id: str
    name: str
    payers: tuple[tuple[Party, Money], ...]


@dataclass(frozen=True, slots=True)
class AuctionView:
    """An auction as one viewer may see it (A8), every party with its reputation (R5)."""

    auction: Auction
    owner: Party
    bids: tuple[BidView, ...]
    ranking_rule: str
    viewer_is_owner: bool
    leader: Party | None = None
    group: GroupBadge | None = None
    winners: tuple[Party, ...] = ()  # in the outcome's order

    @property
    def reserve(self) -> Money | None:
        """The reserve this viewer may see: a reverse auction's ceiling is public, a forward
        auction's reserve is its owner's secret."""
        a = self.auction
        if a.reserve is not None and (a.direction is Direction.REVERSE or self.viewer_is_owner):
            return a.reserve
        return None

    @property
    def standing_price(self) -> Money | None:
        """An open (english) auction's standing price; sealed auctions have none to show."""
        return None if self.auction.sealed else self.auction.english.price


@dataclass(frozen=True, slots=True)
class AuctionSummary:
    """A line of the auction list: the auction and its owner as others see it."""

    auction: Auction
    owner_name: str
    owner_reputation: Reputation


@dataclass(frozen=True, slots=True)
class OfferLine:
    """A provider's processing offer, with the provider as others see it, and how the planes'
    checks of its subcontracted work came out (positive, negative)."""

    offer: ProcessingOffer
    provider: Party
    checks: tuple[int, int] = (0, 0)


# -- contracts in use ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """A new device and its token (shown this once; only its hash is stored)."""

    device: Device
    token: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A report's answer: what was metered, and the session it went into."""

    metered: Metered
    session: UsageSession


@dataclass(frozen=True, slots=True)
class MemberShare:
    """A member (current or removed) and its share of the block."""

    member: Member
    usage: MemberUsage


@dataclass(frozen=True, slots=True)
class UsageView:
    """A contract's block and who used how much of it."""

    contract: Contract
    members: tuple[MemberShare, ...]
    delivered_ms: int
    deliveries: tuple[Delivery, ...]
    remaining_ms: int


@dataclass(frozen=True, slots=True)
class ContractView:
    """A contract as a party, the operator or a member sees it: its parties with their
    reputations, its usage, its ratings, and the names of everyone on it."""

    usage: UsageView
    provider: Party
    recipient: Party
    ratings: tuple[Rating, ...]
    names: dict[str, str]  # account id -> name, for members and raters
    devices: tuple[Device, ...]  # the recipient's devices (to name device members)
    subcontracts: tuple[SubcontractLine, ...] = ()  # the first page of its steps done by others
    subcontract: SubcontractLine | None = None  # when it is a subcontract itself
    subcontracts_next: Key | None = None  # the key after that page, when there are more

    @property
    def contract(self) -> Contract:
        return self.usage.contract

    @property
    def members(self) -> tuple[Member, ...]:
        """The current members."""
        return tuple(s.member for s in self.usage.members if s.member.removed_at is None)


@dataclass(frozen=True, slots=True)
class ContractLine:
    """A contract as one of those on it sees it: which side it is on (provider, recipient, or
    member sharing the recipient's block), and who is across."""

    contract: Contract
    my_role: str
    counterparty: Party


@dataclass(frozen=True, slots=True)
class DeliveryAnswer:
    """A delivery as recorded, and what remains of the block."""

    delivery: Delivery
    remaining_ms: int


@dataclass(frozen=True, slots=True)
class CapacityView:
    """A provider's declared capacity (None: not declared, no limit) and what it committed."""

    declared_bps: int | None
    committed_bps: int


# -- groups --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberLine:
    """A group member as the group's page shows it: standing, pledge, payment reputation, and
    who sponsors it (or whom it sponsors)."""

    member: GroupMember
    party: Party
    sponsored_by: tuple[Party, ...]
    sponsoring: tuple[Party, ...]

    @property
    def unsponsored(self) -> bool:
        return self.member.state is MemberState.NON_PAYER and not self.sponsored_by


@dataclass(frozen=True, slots=True)
class Share:
    """A payer's share of an awarded price, and its charge once it exists."""

    payer: Party
    amount: Money
    charge: Charge | None


@dataclass(frozen=True, slots=True)
class GroupAuction:
    """One of the group's auctions, with its contract's price split among the payers."""

    auction: Auction
    contract_id: str | None
    price: Money | None
    shares: tuple[Share, ...]


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group as one of its members sees it."""

    group: Group
    me: GroupMember
    members: tuple[MemberLine, ...]
    ceiling: Money
    auctions: tuple[GroupAuction, ...]
    under_way: str | None

    @property
    def rule_text(self) -> str:
        return describe(self.group.rule)


# -- billing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeRun:
    """What one run of the charging step did."""

    created: tuple[Charge, ...]
    attempted: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class ContractCharges:
    """A contract's charges and payouts, each payer as others see it; for a group's contract,
    the group and every member it is provided to (G3)."""

    contract: Contract
    charges: tuple[Charge, ...]
    payouts: tuple[Payout, ...]
    payers: dict[str, Party]
    group: Group | None
    provided_to: tuple[MemberLine, ...]

    @property
    def group_id(self) -> str | None:
        return None if self.group is None else self.group.id


@dataclass(frozen=True, slots=True)
class CardRemoved:
    """The cards left after a removal, and the card that became the default, if the default
    was removed and another card remains."""

    heir: PaymentMethod | None
    cards: tuple[PaymentMethod, ...]


# -- the audit trail -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Audit entries oldest first, and the cursor of the next page (None on the last)."""

    entries: tuple[AuditEntry, ...]
    next_after: int | None
