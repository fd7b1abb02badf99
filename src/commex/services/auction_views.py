"""What a viewer sees of auctions: one auction (A8), its bids with their bidders' reputations
(R5) and its group, and the list of auctions.

Visibility is the domain's (:func:`~commex.domain.auctions.visible_bids`); this module reads
what a page can show in the caller's unit of work and shapes it into typed results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from commex.domain import formats, visibility
from commex.domain import groups as group_rules
from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Direction, Status
from commex.domain.errors import InvalidInput
from commex.domain.formats import effective_price
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.services import queries as q
from commex.services.bus import Deps
from commex.services.loading import auction_of
from commex.services.ports import UnitOfWork
from commex.services.results import (
    AuctionSummary,
    AuctionView,
    BidView,
    GroupBadge,
    party,
)

MAX_BIDS_SHOWN = 200
MAX_LIST = 500


def view_auction(
    uow: UnitOfWork, deps: Deps, auction: Auction, viewer_id: str | None
) -> AuctionView:
    """The auction as ``viewer_id`` may see it, with reputations and its group."""
    visible = visibility.visible_bids(auction, _shown_bids(uow, auction, viewer_id), viewer_id)
    leader_id = auction.english.leader_id
    won = [w.bidder_id for w in auction.outcome.winners] if auction.outcome else []
    bidders = {b.bidder_id for b in visible} | ({leader_id} if leader_id else set()) | set(won)
    accounts = uow.accounts.get_many(bidders | {auction.owner_id})
    paid = uow.charges.settled_counts(bidders | {auction.owner_id})
    role = auction.bidder_role
    reps = deps.reputations.of_many(uow, bidders, role)
    owner_rep = deps.reputations.of(uow, auction.owner_id, auction.owner_role)
    leader = None
    if leader_id:
        leader = party(accounts.get(leader_id), leader_id, role, reps[leader_id], paid)
    return AuctionView(
        auction=auction,
        owner=party(
            accounts.get(auction.owner_id), auction.owner_id, auction.owner_role, owner_rep, paid
        ),
        bids=bid_views(auction, visible, accounts, reps, viewer_id, paid),
        ranking_rule=visibility.ranking_rule(auction),
        viewer_is_owner=viewer_id == auction.owner_id,
        leader=leader,
        group=group_badge(uow, deps, auction.id),
        winners=tuple(party(accounts.get(i), i, role, reps[i], paid) for i in won),
    )


def show_auction(query: q.ShowAuction, uow: UnitOfWork, deps: Deps) -> AuctionView:
    return view_auction(uow, deps, auction_of(uow, query.auction_id), query.viewer_id)


def auction_state(query: q.AuctionState, uow: UnitOfWork, deps: Deps) -> Auction:
    return auction_of(uow, query.auction_id)


def list_auctions(query: q.ListAuctions, uow: UnitOfWork, deps: Deps) -> list[AuctionSummary]:
    """Auctions newest first, each with its owner's name and reputation."""
    if not 1 <= query.limit <= MAX_LIST or query.offset < 0:
        raise InvalidInput(f"limit must be 1 to {MAX_LIST} and offset at least 0", "limit")
    return list(summaries(uow, deps, uow.auctions.page(query.status, query.limit, query.offset)))


def summaries(uow: UnitOfWork, deps: Deps, items: Sequence[Auction]) -> tuple[AuctionSummary, ...]:
    """Auctions with their owners' names and reputations: one batch of reputations per role
    (forward owners are providers, reverse ones recipients)."""
    owners = uow.accounts.get_many({a.owner_id for a in items})
    reps = {
        role: deps.reputations.of_many(
            uow, {a.owner_id for a in items if a.owner_role is role}, role
        )
        for role in {a.owner_role for a in items}
    }
    out = []
    for a in items:
        owner = owners.get(a.owner_id)
        out.append(
            AuctionSummary(a, owner.name if owner else a.owner_id, reps[a.owner_role][a.owner_id])
        )
    return tuple(out)


def group_badge(uow: UnitOfWork, deps: Deps, auction_id: str) -> GroupBadge | None:
    """The group behind an auction, with its payers and their payment reputation."""
    group_id = uow.groups.group_of_auction(auction_id)
    if group_id is None:
        return None
    group = uow.groups.get(group_id)
    if group is None:  # pragma: no cover - a link always names a stored group
        return None
    pledges = group_rules.payers(uow.groups.members(group.id))
    ids = {p for p, _ in pledges}
    accounts = uow.accounts.get_many(ids)
    reps = deps.reputations.of_many(uow, ids, Role.RECIPIENT)
    paid = uow.charges.settled_counts(ids)
    payers = tuple(
        (party(accounts.get(p), p, Role.RECIPIENT, reps[p], paid), pledge) for p, pledge in pledges
    )
    return GroupBadge(group.id, group.name, payers)


def bid_views(
    auction: Auction,
    bids: Sequence[Bid],
    accounts: Mapping[str, Account],
    reps: Mapping[str, Reputation],
    viewer_id: str | None = None,
    payments: Mapping[str, int] | None = None,
) -> tuple[BidView, ...]:
    """Visible bids with their bidders' reputations (and verified payments, if given), ranked
    best first (english: newest first), at most MAX_BIDS_SHOWN of them plus the viewer's own."""
    role = auction.bidder_role
    weighted = auction.direction is Direction.REVERSE
    eff: dict[str, Decimal] = {}
    if weighted:
        for b in bids:
            eff[b.id] = effective_price(
                b.amount, reps.get(b.bidder_id, NO_RATINGS), auction.reputation_weight
            )
    if not auction.sealed:
        ordered = sorted(bids, key=lambda b: -b.seq)
        ranks: dict[str, int] = {}
    else:
        active = [b for b in bids if b.active]
        if weighted:
            active.sort(key=lambda b: (eff[b.id], b.seq))
        else:
            active.sort(key=lambda b: (-b.amount.amount, b.seq))
        # A rank is meaningful when the viewer sees the whole field (after the close).
        ranks = (
            {b.id: i + 1 for i, b in enumerate(active)} if auction.status is Status.CLOSED else {}
        )
        ordered = active + sorted((b for b in bids if not b.active), key=lambda b: -b.seq)
    return tuple(
        BidView(
            b,
            party(
                accounts.get(b.bidder_id),
                b.bidder_id,
                role,
                reps.get(b.bidder_id, NO_RATINGS),
                payments,
            ),
            eff.get(b.id),
            ranks.get(b.id),
        )
        for b in ordered[:MAX_BIDS_SHOWN]
        + [b for b in ordered[MAX_BIDS_SHOWN:] if b.bidder_id == viewer_id]
    )


def _shown_bids(uow: UnitOfWork, auction: Auction, viewer_id: str | None) -> list[Bid]:
    """The bids a page can show: the viewer's own, plus (where they are public) the best ones
    of a sealed auction or the newest of an english one, at most MAX_BIDS_SHOWN, so an auction
    of 100,000 bids is as quick to view as one of ten."""
    own = uow.auctions.bids(auction.id, viewer_id) if viewer_id else []
    if visibility.sealed_bids_hidden(auction):
        return own
    if auction.bid_seq <= MAX_BIDS_SHOWN:
        return uow.auctions.bids(auction.id)  # small enough to show whole
    if not auction.sealed:
        public = uow.auctions.recent_bids(auction.id, MAX_BIDS_SHOWN)
    elif formats.deciding_bids(auction) is None:
        public = uow.auctions.active_bids(auction.id)  # reputation-weighted: ranked by the view
    else:
        forward = auction.direction is Direction.FORWARD
        public = uow.auctions.best_bids(auction.id, MAX_BIDS_SHOWN, highest_first=forward)
    seen = {b.id for b in public}
    return public + [b for b in own if b.id not in seen]
