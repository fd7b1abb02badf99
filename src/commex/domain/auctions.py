"""The Auction aggregate: accept a bid, close it, cancel it, show its bids (opening one is
:mod:`opening`).

Every rule here is a function of the auction's state and the input, returning the new state and
what happened. Time and ids are passed in. Pricing per format lives in :mod:`formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any

from commex.domain import formats
from commex.domain.accounts import Account, Role
from commex.domain.contracts import Contract, ContractStatus, Defaulted
from commex.domain.errors import (
    AuctionNotOpen,
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
)
from commex.domain.events import (
    AuctionCancelled,
    AuctionClosed,
    BidPlaced,
    ContractAwarded,
    ContractStarted,
    Event,
)
from commex.domain.money import Money
from commex.domain.reputation import Reputation
from commex.domain.terms import ServiceTerms

MAX_REASON = 500


class Direction(StrEnum):
    """Forward: a provider sells blocks, recipients bid up. Reverse: a recipient buys,
    providers bid down."""

    FORWARD = "forward"
    REVERSE = "reverse"


class Format(StrEnum):
    FIRST_PRICE = "first-price"
    SECOND_PRICE = "second-price"
    ENGLISH = "english"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may bid (A6): reputation thresholds (0 to 1, on the score) and approved providers."""

    min_provider_score: float | None = None
    min_recipient_score: float | None = None
    approved_providers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Bid:
    """One bid. ``max_amount`` is a proxy limit, shown to its bidder only; ``proxy`` marks a bid
    the exchange placed on a bidder's behalf; ``active`` is false once a sealed bid was replaced
    by the same bidder's newer one."""

    id: str
    auction_id: str
    bidder_id: str
    amount: Money
    max_amount: Money | None
    seq: int
    created_at: datetime
    proxy: bool = False
    active: bool = True


@dataclass(frozen=True, slots=True)
class Winner:
    bid_id: str
    bidder_id: str
    price: Money
    contract_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The public result of a closed auction. No winner is a result too (``note`` says why)."""

    winners: tuple[Winner, ...]
    closed_at: datetime
    closed_by: str | None = None
    reason: str | None = None
    note: str = ""
    defaulted: tuple[Defaulted, ...] = ()  # winners whose contracts were cancelled since
    unsold: int = 0  # blocks of cancelled contracts that went to nobody


@dataclass(frozen=True, slots=True)
class EnglishState:
    """The standing of an open english auction: its leader, price and (hidden) proxy limit."""

    leader_id: str | None = None
    leader_bid_id: str | None = None
    price: Money | None = None
    limit: Money | None = None


@dataclass(frozen=True, slots=True)
class Auction:
    """An auction and everything needed to accept a bid without reading the other bids."""

    id: str
    owner_id: str
    direction: Direction
    format: Format
    title: str
    terms: ServiceTerms
    currency: str
    quantity: int
    reserve: Money | None
    min_increment: Money
    soft_close_s: int
    reputation_weight: Decimal
    eligibility: Eligibility
    closes_at: datetime
    created_at: datetime
    status: Status = Status.OPEN
    bid_count: int = 0
    bid_seq: int = 0
    english: EnglishState = field(default_factory=EnglishState)
    outcome: Outcome | None = None
    cancel_reason: str | None = None
    owner_group: str = ""

    @property
    def sealed(self) -> bool:
        return self.format is not Format.ENGLISH

    @property
    def bidder_role(self) -> Role:
        """Recipients bid in forward auctions, providers in reverse ones."""
        return Role.RECIPIENT if self.direction is Direction.FORWARD else Role.PROVIDER

    @property
    def owner_role(self) -> Role:
        return Role.PROVIDER if self.direction is Direction.FORWARD else Role.RECIPIENT


_FIELDS = tuple(f.name for f in fields(Auction))
_FIELD_AT = {name: i for i, name in enumerate(_FIELDS)}
_VALUES = attrgetter(*_FIELDS)


def evolve(auction: Auction, **changes: Any) -> Auction:
    """``dataclasses.replace(auction, **changes)`` for the bid path, where a general replace
    (a walk over the fields and a call by keyword) cost more than the rule it serves: every
    field is read in one call and the auction made by position."""
    values = list(_VALUES(auction))
    for name, value in changes.items():
        values[_FIELD_AT[name]] = value
    return Auction(*values)


@dataclass(frozen=True, slots=True)
class BidResult:
    """What accepting a bid did: the auction's new state, the new bid rows (the caller's bid,
    and any proxy bids the exchange placed), the caller's bid, and bids it replaced."""

    auction: Auction
    new_bids: tuple[Bid, ...]
    placed: Bid
    superseded: tuple[str, ...]
    events: tuple[Event, ...]


def accept_bid(
    auction: Auction,
    bidder: Account,
    reputation: Reputation,
    amount: Money,
    max_amount: Money | None,
    own_active: Bid | None,
    now: datetime,
    new_id: Callable[[], str],
) -> BidResult:
    """Accept a bid or raise the reason it is refused.

    ``own_active`` is the bidder's current sealed bid (replaced by this one), ``reputation`` the
    bidder's reputation in its bidding role (for eligibility).
    """
    check_can_bid(auction, bidder, reputation, now)
    formats.check_amounts(auction, amount, max_amount)
    if auction.sealed:
        bid = Bid(
            id=new_id(),
            auction_id=auction.id,
            bidder_id=bidder.id,
            amount=amount,
            max_amount=None,
            seq=auction.bid_seq + 1,
            created_at=now,
        )
        superseded = (own_active.id,) if own_active is not None else ()
        count = auction.bid_count + (0 if superseded else 1)
        new_state = evolve(auction, bid_seq=bid.seq, bid_count=count)
        rows: tuple[Bid, ...] = (bid,)
        placed = bid
    else:
        step = formats.english_bid(auction, bidder.id, amount, max_amount, now, new_id)
        superseded = ()
        rows = step.rows
        placed = step.placed
        closes_at = auction.closes_at
        if auction.soft_close_s and closes_at - now < timedelta(seconds=auction.soft_close_s):
            closes_at = now + timedelta(seconds=auction.soft_close_s)
        new_state = evolve(
            auction,
            english=step.state,
            bid_seq=rows[-1].seq,
            bid_count=auction.bid_count + len(rows),
            closes_at=closes_at,
        )
    event = BidPlaced(auction.id, placed.id, new_state.bid_count, new_state.closes_at)
    return BidResult(new_state, rows, placed, superseded, (event,))


def check_can_bid(auction: Auction, bidder: Account, reputation: Reputation, now: datetime) -> None:
    """Raise why ``bidder`` may not bid now: closed, own auction, wrong role, not eligible."""
    if auction.status is not Status.OPEN:
        raise AuctionNotOpen(f"auction {auction.id} is {auction.status}; it takes no more bids")
    if now >= auction.closes_at:
        raise AuctionNotOpen(
            f"auction {auction.id} closed at {auction.closes_at.isoformat()}; it takes no more bids"
        )
    check_eligible(auction, bidder, reputation)


def check_eligible(auction: Auction, bidder: Account, reputation: Reputation) -> None:
    """Raise why ``bidder`` may not win ``auction``: its own, wrong role, not eligible."""
    if bidder.id == auction.owner_id:
        raise Forbidden("you cannot bid on your own auction")
    if auction.owner_group and bidder.owner == auction.owner_group:
        raise Forbidden("you cannot bid on an auction of an account of the same owner")
    role = auction.bidder_role
    if not bidder.has(role):
        raise Forbidden(f"only a {role} may bid on a {auction.direction} auction")
    e = auction.eligibility
    if role is Role.PROVIDER:
        if e.approved_providers and bidder.id not in e.approved_providers:
            raise NotEligible("this auction takes bids from its pre-approved providers only")
        if e.min_provider_score is not None and reputation.score < e.min_provider_score:
            raise NotEligible(
                f"your provider reputation {reputation.score:.2f} is below the "
                f"{e.min_provider_score:.2f} this auction requires"
            )
    elif e.min_recipient_score is not None and reputation.score < e.min_recipient_score:
        raise NotEligible(
            f"your payment reputation {reputation.score:.2f} is below the "
            f"{e.min_recipient_score:.2f} this auction requires"
        )


@dataclass(frozen=True, slots=True)
class CloseResult:
    auction: Auction
    contracts: tuple[Contract, ...]
    events: tuple[Event, ...]


def close_auction(
    auction: Auction,
    active_bids: Sequence[Bid],
    reputations: Mapping[str, Reputation],
    now: datetime,
    by: Account | None,
    new_id: Callable[[], str],
    reason: str | None = None,
) -> CloseResult:
    """Close once and award: one contract per winner. ``by`` is None for the closing scheduler.

    Closing a closed auction returns it unchanged with no contracts, so a repeated close is
    harmless; the caller reads the stored outcome.
    """
    if auction.status is Status.CLOSED:
        return CloseResult(auction, (), ())
    check_can_close(auction, by, now, reason)
    awards, note = formats.award(auction, active_bids, reputations)
    # The service starts at the award, or when the terms' usage window opens.
    window = auction.terms.window_start
    starts_now = window is None or window <= now
    winners: list[Winner] = []
    contracts: list[Contract] = []
    events: list[Event] = []
    for bid, price in awards:
        contract_id = new_id()
        winners.append(Winner(bid.id, bid.bidder_id, price, contract_id))
        forward = auction.direction is Direction.FORWARD
        provider = auction.owner_id if forward else bid.bidder_id
        recipient = bid.bidder_id if forward else auction.owner_id
        contracts.append(
            Contract(
                id=contract_id,
                auction_id=auction.id,
                bid_id=bid.id,
                provider_id=provider,
                recipient_id=recipient,
                price=price,
                terms=auction.terms,
                status=ContractStatus.ACTIVE if starts_now else ContractStatus.AWARDED,
                created_at=now,
                started_at=now if starts_now else None,
            )
        )
        events.append(ContractAwarded(contract_id, auction.id, provider, recipient))
        if starts_now:
            events.append(ContractStarted(contract_id, provider, recipient, now))
    outcome = Outcome(
        winners=tuple(winners),
        closed_at=now,
        closed_by=by.id if by is not None else None,
        reason=_clean_reason(reason),
        note=note,
    )
    closed = replace(auction, status=Status.CLOSED, outcome=outcome)
    closer = by.id if by is not None and by.is_operator else None
    winner_ids = tuple(w.bidder_id for w in winners)
    events.insert(0, AuctionClosed(auction.id, winner_ids, now, closer, outcome.reason))
    return CloseResult(closed, tuple(contracts), tuple(events))


def check_may_close(auction: Auction, by: Account | None) -> None:
    """Only the owner, the operator and the scheduler (``by`` None) close an auction, or ask to
    close it again (which answers with the stored outcome)."""
    if by is not None and not by.is_operator and by.id != auction.owner_id:
        raise Forbidden("only the auction's owner or the operator may close it")


def check_can_close(
    auction: Auction, by: Account | None, now: datetime, reason: str | None
) -> None:
    """Raise why ``by`` may not close ``auction`` now (``by`` None is the closing scheduler)."""
    if auction.status is Status.CANCELLED:
        raise AuctionNotOpen(f"auction {auction.id} was cancelled")
    check_may_close(auction, by)
    early = now < auction.closes_at
    if early and (by is None or not by.is_operator):
        raise Conflict(
            f"auction {auction.id} closes at {auction.closes_at.isoformat()}; "
            "only the operator may close it early"
        )
    if early and not (reason and reason.strip()):
        raise InvalidInput("closing an auction early needs a reason", field="reason")


def cancel_auction(auction: Auction, by: Account, reason: str | None) -> CloseResult:
    """The owner cancels an auction with no bids; the operator cancels any open one, saying why."""
    if auction.status is not Status.OPEN:
        raise AuctionNotOpen(f"auction {auction.id} is {auction.status}; it cannot be cancelled")
    if by.is_operator:
        if not (reason and reason.strip()):
            raise InvalidInput("the operator cancels with a reason", field="reason")
    elif by.id == auction.owner_id:
        if auction.bid_count:
            raise Conflict("an auction with bids cannot be cancelled by its owner")
    else:
        raise Forbidden("only the auction's owner or the operator may cancel it")
    text = _clean_reason(reason) or "cancelled by its owner"
    cancelled = replace(auction, status=Status.CANCELLED, cancel_reason=text)
    operator = by.id if by.is_operator else None
    return CloseResult(cancelled, (), (AuctionCancelled(auction.id, text, operator),))


def _clean_reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    text = reason.strip()
    if len(text) > MAX_REASON:
        raise InvalidInput(f"reason is at most {MAX_REASON} characters", field="reason")
    if not text.isprintable():
        raise InvalidInput("reason must be printable text", field="reason")
    return text
