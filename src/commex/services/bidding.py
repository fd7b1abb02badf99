"""Accepting bids, durably and together: the bid desk.

Bids that arrive while a commit is under way are applied as one batch in one transaction (see
:mod:`group_commit`): each auction in the batch is locked once, every bid goes through the
domain's rules in arrival order, all rows are written with one multi-row insert, and one commit
makes them durable. A bid refused by the rules gets its own error and does not disturb the
others; if the batch as a whole fails, each bid is retried on its own so one cannot sink the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from commex.domain import auctions as rules
from commex.domain.accounts import Account
from commex.domain.auctions import Auction, Bid, Direction
from commex.domain.errors import CommexError, Conflict, InvalidInput
from commex.domain.events import Event
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.services.capacity import check_reverse_bid
from commex.services.group_commit import GroupCommit, Pending
from commex.services.loading import account_of, locked_auction
from commex.services.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    ReputationSource,
    UnitOfWork,
    UnitOfWorkFactory,
)
from commex.services.requests import parse_amount

MAX_KEY = 128


@dataclass(frozen=True, slots=True)
class BidRequest:
    """A bid as asked for. With an ``idempotency_key``, a retry of the same request returns
    the first answer and never places a second bid."""

    auction_id: str
    bidder_id: str
    amount: object
    max_amount: object = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        text = f"{self.auction_id}\x1f{self.amount}\x1f{self.max_amount}"
        return hashlib.sha256(text.encode()).hexdigest()


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not (0 < len(key) <= MAX_KEY and key.isprintable()):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY} printable characters", "Idempotency-Key"
        )


class BidDesk:
    """Takes bid requests from any number of threads and answers each with its bid or error."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        reputations: ReputationSource,
        events: EventPublisher,
        max_batch: int = 256,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._reps = reputations
        self._events = events
        self._group: GroupCommit[BidRequest, Bid] = GroupCommit(self._apply, max_batch)

    def place(self, request: BidRequest) -> Bid:
        check_idempotency_key(request.idempotency_key)
        return self._group.submit(request)

    def _apply(self, batch: Sequence[Pending[BidRequest, Bid]]) -> None:
        try:
            self._apply_together(batch)
        except Exception:
            if len(batch) == 1:
                raise
            for p in batch:
                p.result, p.error = None, None
                try:
                    self._apply_together([p])
                except Exception as exc:
                    p.fail(exc)

    def _apply_together(self, batch: Sequence[Pending[BidRequest, Bid]]) -> None:
        answers: list[tuple[Pending[BidRequest, Bid], Bid]] = []
        events: list[Event] = []
        with self._uow() as uow:
            now = self._clock.now()
            states: dict[str, Auction] = {}
            accounts: dict[str, Account] = {}
            current: dict[tuple[str, str], Bid | None] = {}
            rows: dict[str, Bid] = {}
            stored_superseded: list[str] = []
            keys: dict[tuple[str, str], tuple[str, Bid]] = {}
            # Lock auctions in id order (a stable sort keeps each auction's arrival order), so
            # batches in different processes cannot deadlock on PostgreSQL.
            for p in sorted(batch, key=lambda p: p.request.auction_id):
                r = p.request
                try:
                    replay = self._replay(uow, r, keys)
                    if replay is not None:
                        answers.append((p, replay))
                        continue
                    auction = states.get(r.auction_id) or locked_auction(uow, r.auction_id)
                    states[auction.id] = auction
                    bidder = accounts.get(r.bidder_id) or account_of(uow, r.bidder_id)
                    accounts[bidder.id] = bidder
                    if auction.direction is Direction.REVERSE:
                        check_reverse_bid(uow, auction, bidder.id)
                    money = parse_amount(r.amount, auction.currency)
                    limit = (
                        None
                        if r.max_amount is None
                        else parse_amount(r.max_amount, auction.currency, "max_amount")
                    )
                    own = None
                    if auction.sealed:
                        key = (auction.id, bidder.id)
                        if key not in current:
                            current[key] = uow.bids.own_active(auction.id, bidder.id)
                        own = current[key]
                    result = rules.accept_bid(
                        auction,
                        bidder,
                        self._eligibility_reputation(auction, bidder.id),
                        money,
                        limit,
                        own,
                        now,
                        lambda: self._ids.new("bid"),
                    )
                except CommexError as exc:
                    p.fail(exc)
                    continue
                states[auction.id] = result.auction
                for old in result.superseded:
                    if old in rows:
                        rows[old] = replace(rows[old], active=False)
                    else:
                        stored_superseded.append(old)
                rows.update((b.id, b) for b in result.new_bids)
                if auction.sealed:
                    current[(auction.id, bidder.id)] = result.placed
                if r.idempotency_key is not None:
                    keys[(bidder.id, r.idempotency_key)] = (r.fingerprint(), result.placed)
                answers.append((p, result.placed))
                events.extend(result.events)
            if rows:
                uow.bids.deactivate(stored_superseded)
                uow.bids.add_many(list(rows.values()))
                for (bidder_id, ikey), (fingerprint, bid) in keys.items():
                    uow.idempotency.add(bidder_id, ikey, fingerprint, bid.id, now)
                for auction_id in {b.auction_id for b in rows.values()}:
                    uow.auctions.update(states[auction_id])
                uow.commit()
        for p, bid in answers:
            p.answer(bid)
        if events:
            self._events.publish(events)

    def _eligibility_reputation(self, auction: Auction, bidder_id: str) -> Reputation:
        """The bidder's reputation when the auction's eligibility asks for one (a lookup the
        bid path otherwise skips)."""
        e = auction.eligibility
        if e.min_provider_score is None and e.min_recipient_score is None:
            return NO_RATINGS
        return self._reps.of(bidder_id, auction.bidder_role)

    @staticmethod
    def _replay(
        uow: UnitOfWork, r: BidRequest, keys: dict[tuple[str, str], tuple[str, Bid]]
    ) -> Bid | None:
        """The bid a retried request already placed, or None for a new request."""
        if r.idempotency_key is None:
            return None
        in_batch = keys.get((r.bidder_id, r.idempotency_key))
        if in_batch is not None:
            fingerprint, bid = in_batch
        else:
            stored = uow.idempotency.get(r.bidder_id, r.idempotency_key)
            if stored is None:
                return None
            fingerprint, bid_id = stored
            found = uow.bids.get(bid_id)
            if found is None:  # pragma: no cover - a foreign key keeps the bid
                raise Conflict("the bid of this Idempotency-Key is gone")
            bid = found
        if fingerprint != r.fingerprint():
            raise Conflict(
                "this Idempotency-Key was used for a different bid; use a new key",
                "Idempotency-Key",
            )
        return bid
