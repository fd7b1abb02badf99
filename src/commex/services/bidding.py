"""Accepting bids, durably and together: the PlaceBid handler and the bid desk that calls it.

:func:`place_bids` handles a batch of bids in its caller's unit of work: each auction in the
batch is locked once, every bid goes through the domain's rules in arrival order, all rows are
written with one multi-row insert, and each accepted bid is answered as its bidder sees it (its
bidder's reputation, the effective price), read in the same transaction. A bid refused by the
rules gets its own error and does not disturb the others.

:class:`BidDesk` owns the units of work: bids that arrive while a commit is under way share the
next one (see :mod:`desks`); if a batch as a whole fails, each bid is retried on its own, so one
cannot sink the rest. Each accepted bid is audited in its batch's transaction, with the request
id of the caller that sent it (not of the caller that happens to lead the batch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from commex.domain import auctions as rules
from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Direction
from commex.domain.audit import AuditEntry
from commex.domain.errors import CommexError, Conflict
from commex.domain.idempotency import check_idempotency_key
from commex.domain.moderation import refuse_if_suspended
from commex.domain.notices import outbid
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.services import audit
from commex.services.auction_views import bid_views
from commex.services.bus import Deps, MessageBus
from commex.services.capacity import check_reverse_bid
from commex.services.commands import PlaceBid
from commex.services.desks import Desk
from commex.services.group_commit import Pending
from commex.services.known_auctions import Known, KnownAuctions
from commex.services.loading import account_of, check_id, locked_auction
from commex.services.opening import parse_amount
from commex.services.ports import UnitOfWork
from commex.services.recent import RecentReputations
from commex.services.request_context import current_request_id
from commex.services.results import PlacedBid


def fingerprint(cmd: PlaceBid) -> str:
    """What a retry under the same Idempotency-Key must repeat: the auction and the amounts."""
    text = f"{cmd.auction_id}\x1f{cmd.amount}\x1f{cmd.max_amount}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Batch:
    """What a batch has done so far, so later bids in it see the earlier ones."""

    auctions: dict[str, Auction] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    own: dict[tuple[str, str], Bid | None] = field(default_factory=dict)
    rows: dict[str, Bid] = field(default_factory=dict)
    stored_superseded: list[str] = field(default_factory=list)
    keys: dict[tuple[str, str], tuple[str, Bid]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # when the desk keeps auctions
    written: set[str] = field(default_factory=set)

    def known(self) -> list[Known]:
        """Each auction of the batch as its commit leaves it, with its sealed bidders' standing
        bids (less any that a later rule made inactive), for the desk to keep."""
        inactive = set(self.stored_superseded)
        inactive.update(b.id for b in self.rows.values() if not b.active)
        out = {
            i: Known(a, self.versions[i] + (i in self.written))
            for i, a in self.auctions.items()
            if i in self.versions
        }
        for (auction_id, bidder_id), bid in self.own.items():
            if auction_id in out and (bid is None or bid.id not in inactive):
                out[auction_id].own[bidder_id] = bid
        return list(out.values())


def place_bids(
    cmds: Sequence[PlaceBid],
    uow: UnitOfWork,
    deps: Deps,
    request_ids: Sequence[str | None] | None = None,
    answer_reputations: ReputationsOf | None = None,
    known: KnownAuctions | None = None,
) -> list[PlacedBid | CommexError]:
    """Handle a batch of bids in the caller's unit of work; each answer is the placed bid or
    the error that refused it, in the order of ``cmds``. ``request_ids`` are the requests the
    bids answer, for the audit trail (by default the one being served now);
    ``answer_reputations`` are where the answers' reputations are read (by default fresh from
    ``deps``). Given ``known``, the batch starts from the auctions it keeps where they are
    current, and stages what the batch leaves (see :meth:`KnownAuctions.stage`)."""
    batch = _Batch()
    # Bidders before auctions, as a suspension locks them (see AccountRepository.lock_shared).
    uow.accounts.lock_shared(c.bidder_id for c in cmds)
    rids = list(request_ids) if request_ids is not None else [current_request_id()] * len(cmds)
    _prefetch(uow, cmds, batch, known)
    placed: dict[int, Bid | CommexError] = {}
    for i in sorted(range(len(cmds)), key=lambda i: cmds[i].auction_id):
        try:
            placed[i] = _place(uow, deps, cmds[i], batch, rids[i])
        except CommexError as exc:
            placed[i] = exc
    if batch.rows:
        uow.auctions.deactivate_bids(batch.stored_superseded)
        uow.auctions.add_bids(list(batch.rows.values()))
        now = deps.clock.now()
        for (bidder_id, key), (print_, bid) in batch.keys.items():
            uow.auctions.add_bid_key(bidder_id, key, print_, bid.id, now)
        bid_on = sorted({b.auction_id for b in batch.rows.values()})
        uow.auctions.update_bidding([batch.auctions[i] for i in bid_on])
        batch.written.update(bid_on)
    uow.audit.add(batch.audit)
    reps = answer_reputations or deps.reputations
    answers = _answers(uow, reps, [placed[i] for i in range(len(cmds))], batch)
    if known is not None:
        known.stage(batch.known())
    return answers


def _prefetch(
    uow: UnitOfWork, cmds: Sequence[PlaceBid], batch: _Batch, known: KnownAuctions | None
) -> None:
    """Read what the batch needs in a few statements rather than a few per bid: lock its
    auctions (in id order, so batches in different processes cannot deadlock on PostgreSQL),
    then read its bidders and, on sealed auctions, their standing bids. Given ``known``, the
    auctions' versions are read (and locked) instead, and only those not kept at that version
    are read in full. An id that is not found is left out here; the bid that names it is
    refused with the reason in :func:`_place`."""
    wanted = set()
    for auction_id in {c.auction_id for c in cmds}:
        try:
            wanted.add(check_id("auction", auction_id))
        except CommexError:
            continue
    if known is None:
        batch.auctions.update(uow.auctions.many_for_update(wanted))
    else:
        batch.versions = uow.auctions.versions(wanted)
        for auction_id, kept in known.current(batch.versions).items():
            batch.auctions[auction_id] = kept.auction
            batch.own.update(((auction_id, b), bid) for b, bid in kept.own.items())
        stale = batch.versions.keys() - batch.auctions.keys()
        batch.auctions.update(uow.auctions.many_for_update(stale))
    bidders = {c.bidder_id for c in cmds}
    batch.accounts.update(uow.accounts.get_many(bidders))
    pairs = {
        (c.auction_id, c.bidder_id)
        for c in cmds
        if c.auction_id in batch.auctions and batch.auctions[c.auction_id].sealed
    } - batch.own.keys()
    found = uow.auctions.own_active_bids(pairs)
    batch.own.update((pair, found.get(pair)) for pair in pairs)


def _place(
    uow: UnitOfWork, deps: Deps, cmd: PlaceBid, batch: _Batch, request_id: str | None
) -> Bid:
    check_idempotency_key(cmd.idempotency_key)
    replay = _replay(uow, cmd, batch)
    if replay is not None:
        return replay
    auction = batch.auctions.get(cmd.auction_id) or locked_auction(uow, cmd.auction_id)
    batch.auctions[auction.id] = auction
    bidder = batch.accounts.get(cmd.bidder_id) or account_of(uow, cmd.bidder_id)
    batch.accounts[bidder.id] = bidder
    refuse_if_suspended(bidder)
    if auction.direction is Direction.REVERSE:
        check_reverse_bid(uow, auction, bidder.id)
    money = parse_amount(cmd.amount, auction.currency)
    limit = None
    if cmd.max_amount is not None:
        limit = parse_amount(cmd.max_amount, auction.currency, "max_amount")
    own = None
    if auction.sealed:
        key = (auction.id, bidder.id)
        if key not in batch.own:
            batch.own[key] = uow.auctions.own_active_bid(auction.id, bidder.id)
        own = batch.own[key]
    rep = _eligibility_reputation(uow, deps, auction, bidder.id)
    now = deps.clock.now()
    result = rules.accept_bid(
        auction, bidder, rep, money, limit, own, now, lambda: deps.ids.new("bid")
    )
    batch.auctions[auction.id] = result.auction
    for old in result.superseded:
        if old in batch.rows:
            batch.rows[old] = replace(batch.rows[old], active=False)
        else:
            batch.stored_superseded.append(old)
    batch.rows.update((b.id, b) for b in result.new_bids)
    if auction.sealed:
        batch.own[(auction.id, bidder.id)] = result.placed
    if cmd.idempotency_key is not None:
        batch.keys[(bidder.id, cmd.idempotency_key)] = (fingerprint(cmd), result.placed)
    uow.record(result.events)
    lead_lost = outbid(auction, result.auction, now)
    if lead_lost is not None:
        uow.record([lead_lost])
    batch.audit.append(
        audit.entry(
            deps, "bid.placed", auction.id, by=bidder.id, request_id=request_id,
            detail={"bid": result.placed.id, "amount": str(result.placed.amount),
                    "currency": auction.currency},
        )
    )  # fmt: skip
    return result.placed


def _eligibility_reputation(
    uow: UnitOfWork, deps: Deps, auction: Auction, bidder_id: str
) -> Reputation:
    """The bidder's reputation when the auction's eligibility asks for one (a lookup the bid
    path otherwise skips)."""
    e = auction.eligibility
    if e.min_provider_score is None and e.min_recipient_score is None:
        return NO_RATINGS
    return deps.reputations.of(uow, bidder_id, auction.bidder_role)


def _replay(uow: UnitOfWork, cmd: PlaceBid, batch: _Batch) -> Bid | None:
    """The bid a retried request already placed, or None for a new request."""
    if cmd.idempotency_key is None:
        return None
    in_batch = batch.keys.get((cmd.bidder_id, cmd.idempotency_key))
    if in_batch is not None:
        print_, bid = in_batch
    else:
        stored = uow.auctions.bid_key(cmd.bidder_id, cmd.idempotency_key)
        if stored is None:
            return None
        print_, bid_id = stored
        found = uow.auctions.bid(bid_id)
        if found is None:  # pragma: no cover - a foreign key keeps the bid
            raise Conflict("the bid of this Idempotency-Key is gone")
        bid = found
    if print_ != fingerprint(cmd):
        raise Conflict(
            "this Idempotency-Key was used for a different bid; use a new key", "Idempotency-Key"
        )
    return bid


def _answers(
    uow: UnitOfWork, reputations: ReputationsOf, placed: list[Bid | CommexError], batch: _Batch
) -> list[PlacedBid | CommexError]:
    """Each placed bid as its bidder sees it, reputations read once per auction's bidder role."""
    bids = [p for p in placed if isinstance(p, Bid)]
    auctions: dict[str, Auction] = {}
    for b in bids:
        if b.auction_id not in auctions:
            found = batch.auctions.get(b.auction_id) or uow.auctions.get(b.auction_id)
            assert found is not None  # the bid was just placed on it, or is stored with it
            auctions[b.auction_id] = found
    accounts = {i: a for i, a in batch.accounts.items()}
    unread = {b.bidder_id for b in bids} - accounts.keys()  # bids replayed by a retried key
    accounts.update(uow.accounts.get_many(unread) if unread else {})
    by_role: dict[Role, set[str]] = {}
    for b in bids:
        by_role.setdefault(auctions[b.auction_id].bidder_role, set()).add(b.bidder_id)
    reps = {
        (i, role): rep
        for role, ids in by_role.items()
        for i, rep in reputations.of_many(uow, ids, role).items()
    }
    out: list[PlacedBid | CommexError] = []
    for p in placed:
        if isinstance(p, CommexError):
            out.append(p)
            continue
        auction = auctions[p.auction_id]
        role = auction.bidder_role
        rep = {p.bidder_id: reps.get((p.bidder_id, role), NO_RATINGS)}
        (view,) = bid_views(auction, [p], accounts, rep)
        out.append(PlacedBid(view, role))
    return out


class ReputationsOf(Protocol):
    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]: ...


class BidDesk(Desk[PlaceBid, PlacedBid]):
    """Takes PlaceBid commands from any number of threads, or from an event loop, and answers
    each with its placed bid or its error; one commit (one fsync on SQLite) serves every bid
    of a batch. Given ``monotonic`` (a clock in seconds), its answers show reputations read
    less than a second ago (:class:`~commex.services.recent.RecentReputations`)."""

    def __init__(
        self, bus: MessageBus, max_batch: int = 256, monotonic: Callable[[], float] | None = None
    ) -> None:
        super().__init__(bus, max_batch)
        self._known = KnownAuctions()
        self._reputations: ReputationsOf = bus.deps.reputations
        if monotonic is not None:
            self._reputations = RecentReputations(bus.deps.reputations, monotonic)

    def place(self, cmd: PlaceBid, bus: MessageBus | None = None) -> PlacedBid:
        """The message bus's flow for PlaceBid: queue the bid, answer it once committed."""
        return self.handle(cmd)

    def apply_together(self, batch: Sequence[Pending[PlaceBid, PlacedBid]]) -> None:
        cmds = [p.request for p in batch]
        rids = [p.request_id for p in batch]
        try:
            with self._bus.unit_of_work(held=self.held) as uow:
                deps, reps = self._bus.deps, self._reputations
                answers = place_bids(cmds, uow, deps, rids, reps, self._known)
                uow.commit()
        except BaseException:  # what the batch did is not what the database holds
            self._known.clear()
            raise
        self._known.keep_staged()
        for p, answer in zip(batch, answers, strict=True):
            if isinstance(answer, CommexError):
                p.fail(answer)
            else:
                p.answer(answer)
