"""Auctions: opening one, closing and awarding it, cancelling it, closing what is due, and
starting contracts whose window opened.

Closing and cancelling lock the auction's row first, so an auction closes exactly once and
takes no bid after its close, whatever runs concurrently. Bids go through the bid desk
(:mod:`commex.services.bidding`).
"""

from __future__ import annotations

from collections.abc import Sequence

from commex.domain import auctions as rules
from commex.domain import formats, opening
from commex.domain.auctions import Auction, Bid, Direction, Status
from commex.domain.contracts import Contract, start
from commex.domain.errors import AuctionNotOpen, InvalidInput
from commex.domain.events import ContractStarted
from commex.domain.reputation import Reputation
from commex.services import audit
from commex.services import commands as c
from commex.services.auction_views import view_auction
from commex.services.bus import Deps, MessageBus
from commex.services.capacity import check_new_block
from commex.services.loading import account_of, check_id, locked_auction
from commex.services.opening import draft_of
from commex.services.ports import UnitOfWork
from commex.services.results import AuctionView

_CLOSE_PAGE = 500


def open_auction(cmd: c.OpenAuction, uow: UnitOfWork, deps: Deps) -> AuctionView:
    """Open the auction and answer it as its owner sees it."""
    auction = open_in(uow, deps, cmd)
    return view_auction(uow, deps, auction, cmd.owner_id)


def open_in(
    uow: UnitOfWork, deps: Deps, cmd: c.OpenAuction, group_id: str | None = None
) -> Auction:
    """Open the auction ``cmd`` asks for in the caller's unit of work (a group's auction adds
    its link in the same one, and names ``group_id``)."""
    draft = draft_of(cmd)
    owner = account_of(uow, cmd.owner_id)
    approved = draft.eligibility.approved_providers
    if approved:
        for provider_id in approved:
            check_id("approved provider", provider_id)
        missing = sorted(set(approved) - set(uow.accounts.get_many(approved)))
        if missing:
            raise InvalidInput(
                f"approved providers not found: {', '.join(missing)}",
                field="eligibility.approved_providers",
            )
    auction = opening.open_auction(draft, deps.ids.new("auc"), owner, deps.clock.now())
    if auction.direction is Direction.FORWARD:
        label = f"auction {auction.title!r}"
        check_new_block(uow, owner.id, auction.terms, auction.quantity, label)
    uow.auctions.add(auction)
    audit.record(
        uow, deps, "auction.opened", auction.id, by=owner.id,
        detail={"direction": auction.direction.value, "format": auction.format.value,
                "closes_at": auction.closes_at.isoformat(), "group": group_id},
    )  # fmt: skip
    return auction


def close_auction(cmd: c.CloseAuction, uow: UnitOfWork, deps: Deps) -> AuctionView:
    """Close and award; answer the auction as the closer sees it."""
    closed = close_in(uow, deps, cmd.auction_id, cmd.by_id, cmd.reason)
    return view_auction(uow, deps, closed, cmd.by_id)


def close_in(
    uow: UnitOfWork, deps: Deps, auction_id: str, by_id: str | None, reason: str | None
) -> Auction:
    """Close the auction in the caller's unit of work (the operator any time; the owner or the
    scheduler once due); closing again returns the stored outcome."""
    auction = locked_auction(uow, auction_id)
    by = account_of(uow, by_id) if by_id is not None else None
    if auction.status is Status.CLOSED:
        rules.check_may_close(auction, by)
        return auction
    now = deps.clock.now()
    rules.check_can_close(auction, by, now, reason)
    if auction.sealed:
        deciding = formats.deciding_bids(auction)
        if deciding is None:
            bids = _weighted_deciding_bids(uow, deps, auction)
        else:
            forward = auction.direction is Direction.FORWARD
            bids = uow.auctions.best_bids(auction_id, deciding, highest_first=forward)
    else:
        lead = auction.english.leader_bid_id
        leader_bid = uow.auctions.bid(lead) if lead else None
        bids = [leader_bid] if leader_bid else []
    reps = deps.reputations.of_many(uow, {b.bidder_id for b in bids}, auction.bidder_role)
    result = rules.close_auction(auction, bids, reps, now, by, lambda: deps.ids.new("con"), reason)
    uow.contracts.add_many(result.contracts)
    uow.auctions.update(result.auction)
    uow.record(result.events)
    _audit_close(uow, deps, result.auction, result.contracts, by_id, reason)
    return result.auction


def _audit_close(
    uow: UnitOfWork,
    deps: Deps,
    auction: Auction,
    contracts: Sequence[Contract],
    by_id: str | None,
    reason: str | None,
) -> None:
    """The close, and each contract it awarded (its own subject, for the contract's story)."""
    audit.record(
        uow, deps, "auction.closed", auction.id, by=by_id, reason=reason,
        accounts=(auction.owner_id, *(x.recipient_id for x in contracts),
                  *(x.provider_id for x in contracts)),
        detail={"contracts": " ".join(x.id for x in contracts) or "none"},
    )  # fmt: skip
    for x in contracts:
        audit.record(
            uow, deps, "contract.awarded", x.id, by=by_id,
            accounts=(x.provider_id, x.recipient_id),
            detail={"auction": auction.id, "bid": x.bid_id, "price": str(x.price),
                    "currency": x.price.currency},
        )  # fmt: skip


def _weighted_deciding_bids(uow: UnitOfWork, deps: Deps, auction: Auction) -> list[Bid]:
    """The bids that can decide a reputation-weighted reverse auction, read a page at a time in
    ascending amount until no later bid can rank among them (see ``seen_enough``)."""
    seen: list[Bid] = []
    reps: dict[str, Reputation] = {}
    after: tuple[int, int] | None = None
    while True:
        page = uow.auctions.cheapest_bids_after(auction.id, after, _CLOSE_PAGE)
        reps.update(deps.reputations.of_many(uow, {b.bidder_id for b in page}, auction.bidder_role))
        seen.extend(page)
        if len(page) < _CLOSE_PAGE:
            return seen
        last = page[-1]
        after = (last.amount.to_minor(), last.seq)
        if formats.seen_enough(auction, seen, reps, last.amount):
            return seen


def cancel_auction(cmd: c.CancelAuction, uow: UnitOfWork, deps: Deps) -> AuctionView:
    auction = locked_auction(uow, cmd.auction_id)
    by = account_of(uow, cmd.by_id)
    result = rules.cancel_auction(auction, by, cmd.reason)
    uow.auctions.update(result.auction)
    uow.record(result.events)
    audit.record(
        uow, deps, "auction.cancelled", auction.id, by=by.id, accounts=(auction.owner_id,),
        reason=cmd.reason,
    )  # fmt: skip
    return view_auction(uow, deps, result.auction, cmd.by_id)


def close_due(cmd: c.CloseDue, bus: MessageBus) -> list[Auction]:
    """A flow: every auction whose time has come closes in its own transaction under its row
    lock, so several processes running this at once close each auction once."""
    with bus.unit_of_work(write=False) as uow:
        due = uow.auctions.due(bus.clock.now(), cmd.limit)
    closed = []
    for auction_id in due:
        try:
            with bus.unit_of_work() as uow:
                closed.append(close_in(uow, bus.deps, auction_id, None, None))
                uow.commit()
        except AuctionNotOpen:
            continue  # cancelled since it was listed: nothing to close, the rest still are
    return closed


def start_due(cmd: c.StartDue, uow: UnitOfWork, deps: Deps) -> list[Contract]:
    """Start the contracts whose usage window has opened."""
    now = deps.clock.now()
    started = [start(x, now) for x in uow.contracts.due_to_start(now, cmd.limit)]
    for contract in started:
        uow.contracts.update(contract)
    uow.record(ContractStarted(x.id, x.provider_id, x.recipient_id, now) for x in started)
    for x in started:
        audit.record(
            uow, deps, "contract.started", x.id, by=None, accounts=(x.provider_id, x.recipient_id)
        )
    return started
