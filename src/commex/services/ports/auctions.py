"""Auctions with their bids, and the idempotency keys that bids were placed under."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from commex.domain.auctions import Auction, Bid, Status
from commex.domain.errors import Conflict
from commex.domain.finding import AuctionFilter, Sort
from commex.domain.listing import AuctionLine
from commex.domain.paging import Key


def key_used() -> Conflict:
    """How every auction repository refuses an Idempotency-Key stored twice."""
    return Conflict("this Idempotency-Key was used already", "Idempotency-Key")


class AuctionRepository(Protocol):
    def add(self, auction: Auction) -> None: ...

    def get(self, auction_id: str) -> Auction | None: ...

    def get_for_update(self, auction_id: str) -> Auction | None:
        """Read the auction and hold its row lock until the unit of work ends."""
        ...

    def many_for_update(self, auction_ids: Collection[str]) -> dict[str, Auction]:
        """Read those of the auctions that exist, in one statement, and hold their row locks
        (taken in id order) until the unit of work ends."""
        ...

    def versions(self, auction_ids: Collection[str]) -> dict[str, int]:
        """The version of each of the auctions that exists, in one statement, holding their
        row locks (taken in id order) until the unit of work ends. Every write to an auction
        (:meth:`update`, :meth:`update_bidding`) raises its version by one."""
        ...

    def update(self, auction: Auction) -> None: ...

    def update_bidding(self, auctions: Sequence[Auction]) -> None:
        """Write what taking bids changed in each auction (the bid count and sequence, the
        english auction's leader and price, a soft close's new close time), in one statement;
        the rest stays as it is."""
        ...

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]:
        """Auctions (in one status, if given), newest first."""
        ...

    def find(
        self, f: AuctionFilter, sort: Sort, after: Key | None, limit: int
    ) -> list[AuctionLine]:
        """The lines of the auctions passing ``f`` in ``sort`` order (see
        :mod:`commex.domain.finding`), only those after the key ``after``, at most ``limit``:
        read without the whole aggregates."""
        ...

    def open_of_owner(self, owner_id: str) -> list[Auction]:
        """The owner's open auctions, oldest first."""
        ...

    def open_bid_on_by(self, bidder_id: str) -> list[Auction]:
        """Open auctions in which ``bidder_id`` holds an active bid, oldest first."""
        ...

    def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of open auctions whose close time has passed, earliest first."""
        ...

    # -- its bids -------------------------------------------------------------------------------

    def add_bids(self, bids: Sequence[Bid]) -> None: ...

    def deactivate_bids(self, bid_ids: Sequence[str]) -> None: ...

    def open_auctions_bid_on(self, bidder_id: str) -> list[str]:
        """Ids of open auctions where the bidder has an active bid, in id order."""
        ...

    def bid(self, bid_id: str) -> Bid | None: ...

    def own_active_bid(self, auction_id: str, bidder_id: str) -> Bid | None: ...

    def own_active_bids(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Bid]:
        """The active bid of each (auction id, bidder id) pair that has one, in one read."""
        ...

    def active_bids(self, auction_id: str) -> list[Bid]:
        """Every active bid of the auction, in arrival order."""
        ...

    def best_bids(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        """The ``limit`` best active bids by amount, ties to the earlier bid."""
        ...

    def cheapest_bids_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        """Active bids in ascending (amount in minor units, seq) order, after the key given."""
        ...

    def recent_bids(self, auction_id: str, limit: int) -> list[Bid]:
        """The newest ``limit`` bids of the auction, newest first."""
        ...

    def bidders(self, auction_id: str, after: str | None, limit: int) -> list[str]:
        """The auction's distinct bidders in id order, those after ``after`` only."""
        ...

    def bids(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        """Every bid of the auction (or of one bidder in it), in arrival order."""
        ...

    # -- the keys bids were placed under --------------------------------------------------------

    def bid_key(self, account_id: str, key: str) -> tuple[str, str] | None:
        """The (request fingerprint, bid id) stored under this caller's Idempotency-Key."""
        ...

    def add_bid_key(
        self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime
    ) -> None:
        """Remember the bid placed under the key; a key used already raises Conflict."""
        ...
