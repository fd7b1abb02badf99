"""In-memory auctions with their bids and bid idempotency keys."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.auctions import Auction, Bid, Status
from commex.domain.finding import AuctionFilter, Sort, follows, in_order, matches, sort_key
from commex.domain.listing import AuctionLine, line_of
from commex.domain.paging import Key
from commex.services.ports.auctions import key_used

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryAuctions:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, auction: Auction) -> None:
        self._s.auctions[auction.id] = auction

    def get(self, auction_id: str) -> Auction | None:
        return self._s.auctions.get(auction_id)

    get_for_update = get  # the unit of work holds the store's lock

    def many_for_update(self, auction_ids: Collection[str]) -> dict[str, Auction]:
        found = (self._s.auctions.get(i) for i in sorted(auction_ids))
        return {a.id: a for a in found if a is not None}

    def versions(self, auction_ids: Collection[str]) -> dict[str, int]:
        known = self._s.auctions
        return {i: self._s.auction_versions.get(i, 0) for i in sorted(auction_ids) if i in known}

    def _written(self, auction_id: str) -> None:
        self._s.auction_versions[auction_id] = self._s.auction_versions.get(auction_id, 0) + 1

    def update(self, auction: Auction) -> None:
        self._s.auctions[auction.id] = auction
        self._written(auction.id)

    def update_bidding(self, auctions: Sequence[Auction]) -> None:
        for a in auctions:
            self._written(a.id)
            self._s.auctions[a.id] = replace(
                self._s.auctions[a.id],
                bid_count=a.bid_count,
                bid_seq=a.bid_seq,
                english=a.english,
                closes_at=a.closes_at,
            )

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]:
        items = [a for a in self._s.auctions.values() if status is None or a.status is status]
        items.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return items[offset : offset + limit]

    def find(
        self, f: AuctionFilter, sort: Sort, after: Key | None, limit: int
    ) -> list[AuctionLine]:
        found = in_order((x for x in self._s.auctions.values() if matches(x, f)), sort)
        if after is not None:
            found = [x for x in found if follows(sort_key(x, sort), after, sort)]
        return [line_of(x) for x in found[:limit]]

    def open_of_owner(self, owner_id: str) -> list[Auction]:
        found = [
            a
            for a in self._s.auctions.values()
            if a.owner_id == owner_id and a.status is Status.OPEN
        ]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    def open_bid_on_by(self, bidder_id: str) -> list[Auction]:
        ids = {b.auction_id for b in self._s.bids.values() if b.bidder_id == bidder_id and b.active}
        found = [a for i in ids if (a := self._s.auctions[i]).status is Status.OPEN]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    def due(self, now: datetime, limit: int) -> list[str]:
        due = [
            a for a in self._s.auctions.values() if a.status is Status.OPEN and a.closes_at <= now
        ]
        due.sort(key=lambda a: (a.closes_at, a.id))
        return [a.id for a in due[:limit]]

    def add_bids(self, bids: Sequence[Bid]) -> None:
        for b in bids:
            self._s.bids[b.id] = b

    def deactivate_bids(self, bid_ids: Sequence[str]) -> None:
        for i in bid_ids:
            self._s.bids[i] = replace(self._s.bids[i], active=False)

    def open_auctions_bid_on(self, bidder_id: str) -> list[str]:
        found = {
            b.auction_id
            for b in self._s.bids.values()
            if b.bidder_id == bidder_id
            and b.active
            and self._s.auctions[b.auction_id].status is Status.OPEN
        }
        return sorted(found)

    def bid(self, bid_id: str) -> Bid | None:
        return self._s.bids.get(bid_id)

    def own_active_bid(self, auction_id: str, bidder_id: str) -> Bid | None:
        return next((b for b in self.active_bids(auction_id) if b.bidder_id == bidder_id), None)

    def own_active_bids(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Bid]:
        found = ((pair, self.own_active_bid(*pair)) for pair in pairs)
        return {pair: bid for pair, bid in found if bid is not None}

    def active_bids(self, auction_id: str) -> list[Bid]:
        return [b for b in self.bids(auction_id) if b.active]

    def best_bids(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        sign = -1 if highest_first else 1
        ranked = sorted(self.active_bids(auction_id), key=lambda b: (sign * b.amount.amount, b.seq))
        return ranked[:limit]

    def cheapest_bids_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        ranked = sorted(self.active_bids(auction_id), key=lambda b: (b.amount.to_minor(), b.seq))
        if after is not None:
            ranked = [b for b in ranked if (b.amount.to_minor(), b.seq) > after]
        return ranked[:limit]

    def recent_bids(self, auction_id: str, limit: int) -> list[Bid]:
        return self.bids(auction_id)[::-1][:limit]

    def bidders(self, auction_id: str, after: str | None, limit: int) -> list[str]:
        found = {b.bidder_id for b in self._s.bids.values() if b.auction_id == auction_id}
        return sorted(b for b in found if after is None or b > after)[:limit]

    def bids(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        out = [
            b
            for b in self._s.bids.values()
            if b.auction_id == auction_id and (bidder_id is None or b.bidder_id == bidder_id)
        ]
        return sorted(out, key=lambda b: b.seq)

    def bid_key(self, account_id: str, key: str) -> tuple[str, str] | None:
        return self._s.bid_keys.get((account_id, key))

    def add_bid_key(
        self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime
    ) -> None:
        if (account_id, key) in self._s.bid_keys:
            raise key_used()
        self._s.bid_keys[(account_id, key)] = (fingerprint, bid_id)
