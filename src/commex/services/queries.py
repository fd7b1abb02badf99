"""Queries: typed, frozen requests to read, each answered from one read-only unit of work with
everything its caller shows (so a page or a route never reads twice).

Every query that reads on someone's behalf names the viewer, and answers only what that viewer
may see (a stranger is told a contract or a group does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Status
from commex.domain.charges import Charge
from commex.domain.contracts import Contract
from commex.domain.groups import Group
from commex.domain.members import Device
from commex.domain.payment_methods import PaymentMethod
from commex.services.messages import Caller, Message
from commex.services.results import (
    AccountView,
    AuctionSummary,
    AuctionView,
    AuditPage,
    CapacityView,
    ContractCharges,
    ContractLine,
    ContractView,
    GroupView,
    OfferLine,
    Party,
    UsageView,
    WebSession,
)

R_co = TypeVar("R_co", covariant=True)


class Query(Message[R_co]):
    """A request to read: handled in a read-only unit of work that takes no write lock."""

    __slots__ = ()
    writes = False


# -- who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authenticate(Query[Account]):
    """The account a bearer token belongs to, or Unauthenticated."""

    token: str | None


@dataclass(frozen=True, slots=True)
class AuthenticateDevice(Query[Device]):
    """The client device a device token (``cxd_...``) belongs to, or Unauthenticated."""

    token: str | None


@dataclass(frozen=True, slots=True)
class CurrentSession(Query[WebSession]):
    """The live web session behind a cookie value, or Unauthenticated."""

    token: str | None


# -- accounts and parties ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShowAccount(Query[AccountView]):
    """An account's public face: name, roles and reputation in both roles."""

    account_id: str


@dataclass(frozen=True, slots=True)
class ShowParty(Query[Party]):
    """An account as others see it in one role: its name and reputation."""

    account_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class AnyAccounts(Query[bool]):
    """Whether the exchange has any account yet (a fresh database has none)."""


# -- auctions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShowAuction(Query[AuctionView]):
    """The auction as the viewer may see it (A8), with reputations (R5) and its group."""

    auction_id: str
    viewer_id: str | None


@dataclass(frozen=True, slots=True)
class AuctionState(Query[Auction]):
    """The auction without its bids: a cheap read for live pages polling for changes."""

    auction_id: str


@dataclass(frozen=True, slots=True)
class ListAuctions(Query[list[AuctionSummary]]):
    """Auctions newest first (in one status, if given), each with its owner's reputation."""

    status: Status | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class FindProcessors(Query[list[OfferLine]]):
    """Providers whose nodes offer a step: best reputation first, then the lower price."""

    capability: str


# -- contracts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyContracts(Query[list[Contract]]):
    """Contracts the account is a party to or a member of, newest first."""

    account_id: str


@dataclass(frozen=True, slots=True)
class MyContractLines(Query[list[ContractLine]]):
    """The account's contracts, newest first, each with its side and the party across."""

    account_id: str


@dataclass(frozen=True, slots=True)
class ProviderContracts(Query[list[Contract]]):
    """The provider's contracts (in one status, if given), newest first."""

    provider_id: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class PartyContract(Query[Contract]):
    """A contract, to its parties and the operator only."""

    contract_id: str
    viewer_id: str


@dataclass(frozen=True, slots=True)
class ShowContract(Query[ContractView]):
    """A contract with its parties, members, usage and ratings, to its parties, the operator
    and its members."""

    contract_id: str
    caller: Caller


@dataclass(frozen=True, slots=True)
class ShowUsage(Query[UsageView]):
    """The block, what each member used (removed members too) and the plane's deliveries."""

    contract_id: str
    caller: Caller


@dataclass(frozen=True, slots=True)
class ShowCapacity(Query[CapacityView]):
    """The provider's declared capacity and what it has committed."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class DevicesOf(Query[list[Device]]):
    """The recipient's client devices, oldest first."""

    recipient_id: str


# -- groups and billing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyGroups(Query[list[Group]]):
    """The groups the account is in or invited to, newest first."""

    account_id: str


@dataclass(frozen=True, slots=True)
class ShowGroup(Query[GroupView]):
    """A group as one of its members sees it."""

    group_id: str
    viewer_id: str


@dataclass(frozen=True, slots=True)
class ShowContractCharges(Query[ContractCharges]):
    """A contract's charges and payouts, and (for a group's) who it is provided to."""

    contract_id: str
    viewer_id: str


@dataclass(frozen=True, slots=True)
class MyCharges(Query[list[Charge]]):
    """The payer's charges, newest first."""

    payer_id: str


@dataclass(frozen=True, slots=True)
class ListCards(Query[list[PaymentMethod]]):
    """The account's saved cards, oldest first."""

    account_id: str


@dataclass(frozen=True, slots=True)
class DefaultCard(Query[PaymentMethod | None]):
    """The card the account is charged on, if any."""

    account_id: str


# -- the audit trail -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShowAudit(Query[AuditPage]):
    """Audit entries oldest first, after the entry ``after`` (a cursor): every entry (about
    ``subject_id`` when given) for the operator, those concerning the viewer for anyone else."""

    viewer_id: str
    subject_id: str | None = None
    after: int = 0
    limit: int = 100
