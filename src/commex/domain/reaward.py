"""What becomes of an auction's block when its contract is cancelled after the close (O2).

A sealed forward auction (first- or second-price) goes to the next *qualifying* bid: the best
active bid, by the auction's ranking, that

- is not by a current winner, nor by a bidder whose contract on it was cancelled before;
- is by an account that is not suspended, not of the owner of the bidder who lost the block,
  and not of the auction owner's owner;
- is still eligible (role, eligibility thresholds against its reputation now);
- is within the reserve.

The new winner pays its own bid: what it offered, never more than the price the first winners
paid (a second price is not worked out again among the bids left). Anything else is reported
unsold: an english auction (its price came from the open contest, which is over), a reverse
auction (whoever did not pay is its owner, whom no other bid replaces), or no bid qualifying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from commex.domain import formats
from commex.domain.accounts import Account
from commex.domain.auctions import Auction, Bid, Direction, Winner, check_eligible
from commex.domain.contracts import Contract, ContractStatus, Defaulted, EndReason
from commex.domain.errors import CommexError
from commex.domain.events import (
    AuctionReawarded,
    AuctionUnsold,
    ContractAwarded,
    ContractStarted,
    Event,
)
from commex.domain.reputation import NO_RATINGS, Reputation


@dataclass(frozen=True, slots=True)
class Reaward:
    """The auction's new outcome, the new contract (None: unsold) and what happened."""

    auction: Auction
    contract: Contract | None
    events: tuple[Event, ...]


def may_reaward(auction: Auction) -> bool:
    """Whether the format lets a cancelled block go to the next bid: sealed forward auctions."""
    return auction.sealed and auction.direction is Direction.FORWARD


def qualifying(
    auction: Auction,
    bids: Sequence[Bid],
    accounts: Mapping[str, Account],
    reputations: Mapping[str, Reputation],
    lost_by: Account,
) -> list[Bid]:
    """The bids that may take a cancelled block, best first (see the module's docstring).
    ``accounts`` holds the bidders' accounts and the auction owner's."""
    outcome = auction.outcome
    taken = {w.bidder_id for w in outcome.winners} if outcome else set()
    taken |= {d.bidder_id for d in outcome.defaulted} if outcome else set()
    owner = accounts.get(auction.owner_id)
    shut_out = {lost_by.owner} | ({owner.owner} if owner is not None else set())
    chosen = []
    for bid in formats.ranked(auction, bids, reputations):
        bidder = accounts.get(bid.bidder_id)
        if bidder is None or not bid.active or bid.bidder_id in taken or bidder.suspended:
            continue
        if bidder.owner in shut_out or not formats.qualifies(auction, bid):
            continue
        try:
            check_eligible(auction, bidder, reputations.get(bidder.id, NO_RATINGS))
        except CommexError:
            continue
        chosen.append(bid)
    return chosen


def after_cancellation(
    auction: Auction,
    cancelled: Contract,
    candidates: Sequence[Bid],
    contract_id: str,
    now: datetime,
) -> Reaward:
    """The auction once ``cancelled`` (one of its contracts) ended early: its winner moves to
    ``defaulted``, and its block goes to the first of ``candidates`` (see :func:`qualifying`)
    where the format allows, or is counted unsold."""
    outcome = auction.outcome
    if outcome is None:  # pragma: no cover - a contract always comes from a closed auction
        raise ValueError(f"auction {auction.id} has no outcome")
    lost = next(w for w in outcome.winners if w.contract_id == cancelled.id)
    reason = cancelled.end_reason or EndReason.OPERATOR
    gone = Defaulted(lost.bid_id, lost.bidder_id, cancelled.id, reason)
    winners = tuple(w for w in outcome.winners if w.contract_id != cancelled.id)
    defaulted = (*outcome.defaulted, gone)
    if not may_reaward(auction) or not candidates:
        why = "no qualifying bid" if may_reaward(auction) else _no_reaward(auction)
        new_outcome = replace(
            outcome, winners=winners, defaulted=defaulted, unsold=outcome.unsold + 1
        )
        event = AuctionUnsold(auction.id, cancelled.id, why, now)
        return Reaward(replace(auction, outcome=new_outcome), None, (event,))
    bid = candidates[0]
    contract = _contract(auction, bid, contract_id, now)
    winner = Winner(bid.id, bid.bidder_id, bid.amount, contract.id)
    new_outcome = replace(outcome, winners=(*winners, winner), defaulted=defaulted)
    events: list[Event] = [
        AuctionReawarded(
            auction.id, cancelled.id, contract.id, bid.id, bid.bidder_id, str(bid.amount), now
        ),
        ContractAwarded(contract.id, auction.id, contract.provider_id, contract.recipient_id),
    ]
    if contract.status is ContractStatus.ACTIVE:
        events.append(ContractStarted(contract.id, contract.provider_id, bid.bidder_id, now))
    return Reaward(replace(auction, outcome=new_outcome), contract, tuple(events))


def _no_reaward(auction: Auction) -> str:
    if auction.direction is Direction.REVERSE:
        return "a reverse auction's buyer is its owner: no other bid takes its place"
    return "an english auction is not awarded again: its price came from the open contest"


def _contract(auction: Auction, bid: Bid, contract_id: str, now: datetime) -> Contract:
    """The new winner's contract: active at once unless its window is still to open."""
    window = auction.terms.window_start
    starts_now = window is None or window <= now
    return Contract(
        id=contract_id,
        auction_id=auction.id,
        bid_id=bid.id,
        provider_id=auction.owner_id,
        recipient_id=bid.bidder_id,
        price=bid.amount,
        terms=auction.terms,
        status=ContractStatus.ACTIVE if starts_now else ContractStatus.AWARDED,
        created_at=now,
        started_at=now if starts_now else None,
    )
