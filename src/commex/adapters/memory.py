"""In-memory adapters: a unit of work over dictionaries, and the "no ratings yet" reputation.

Tests use them in place of the database; a library user can run the engine in memory too.
A unit of work copies nothing: it records writes and applies them on commit under one lock,
so concurrent use from threads stays consistent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Self

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Status
from commex.domain.contracts import Contract
from commex.domain.reputation import NO_RATINGS, Reputation


class MemoryStore:
    """The tables."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, str] = {}
        self.auctions: dict[str, Auction] = {}
        self.bids: dict[str, Bid] = {}
        self.contracts: dict[str, Contract] = {}


class _Accounts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, account: Account, token_hash: str | None = None) -> None:
        self._s.accounts[account.id] = account
        if token_hash:
            self._s.tokens[token_hash] = account.id

    def get(self, account_id: str) -> Account | None:
        return self._s.accounts.get(account_id)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        return {i: self._s.accounts[i] for i in account_ids if i in self._s.accounts}


class _Auctions:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, auction: Auction) -> None:
        self._s.auctions[auction.id] = auction

    def get(self, auction_id: str) -> Auction | None:
        return self._s.auctions.get(auction_id)

    get_for_update = get

    def update(self, auction: Auction) -> None:
        self._s.auctions[auction.id] = auction

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]:
        items = [a for a in self._s.auctions.values() if status is None or a.status is status]
        items.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return items[offset : offset + limit]

    def due(self, now: datetime, limit: int) -> list[str]:
        due = [
            a for a in self._s.auctions.values() if a.status is Status.OPEN and a.closes_at <= now
        ]
        due.sort(key=lambda a: a.closes_at)
        return [a.id for a in due[:limit]]


class _Bids:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, bids: Sequence[Bid]) -> None:
        for b in bids:
            self._s.bids[b.id] = b

    def deactivate(self, bid_ids: Sequence[str]) -> None:
        for i in bid_ids:
            self._s.bids[i] = replace(self._s.bids[i], active=False)

    def get(self, bid_id: str) -> Bid | None:
        return self._s.bids.get(bid_id)

    def own_active(self, auction_id: str, bidder_id: str) -> Bid | None:
        for b in self._s.bids.values():
            if b.auction_id == auction_id and b.bidder_id == bidder_id and b.active:
                return b
        return None

    def active(self, auction_id: str) -> list[Bid]:
        return [b for b in self.for_auction(auction_id) if b.active]

    def best_active(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        sign = -1 if highest_first else 1
        ranked = sorted(self.active(auction_id), key=lambda b: (sign * b.amount.amount, b.seq))
        return ranked[:limit]

    def for_auction(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        out = [
            b
            for b in self._s.bids.values()
            if b.auction_id == auction_id and (bidder_id is None or b.bidder_id == bidder_id)
        ]
        return sorted(out, key=lambda b: b.seq)


class _Contracts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, contracts: Sequence[Contract]) -> None:
        for c in contracts:
            self._s.contracts[c.id] = c

    def get(self, contract_id: str) -> Contract | None:
        return self._s.contracts.get(contract_id)

    def for_auction(self, auction_id: str) -> list[Contract]:
        return [c for c in self._s.contracts.values() if c.auction_id == auction_id]

    def for_account(self, account_id: str) -> list[Contract]:
        return [
            c for c in self._s.contracts.values() if account_id in (c.provider_id, c.recipient_id)
        ]


class MemoryUnitOfWork:
    """A transaction over a :class:`MemoryStore`: the store's lock is held for its whole life,
    and writes are undone unless committed (a snapshot is restored)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.accounts = _Accounts(store)
        self.auctions = _Auctions(store)
        self.bids = _Bids(store)
        self.contracts = _Contracts(store)
        self.committed = False

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        s = self._store
        self._snapshot = (
            dict(s.accounts),
            dict(s.tokens),
            dict(s.auctions),
            dict(s.bids),
            dict(s.contracts),
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                s = self._store
                s.accounts, s.tokens, s.auctions, s.bids, s.contracts = self._snapshot
        finally:
            self._store.lock.release()

    def commit(self) -> None:
        self.committed = True


class MemoryUnitOfWorkFactory:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, write: bool = True) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    def dispose(self) -> None:
        return None


class NoRatingsYet:
    """The reputation source until ratings exist: every account has "no ratings yet"."""

    def of(self, account_id: str, role: Role) -> Reputation:
        return NO_RATINGS

    def of_many(self, account_ids: Iterable[str], role: Role) -> dict[str, Reputation]:
        return dict.fromkeys(account_ids, NO_RATINGS)


class FixedReputations:
    """Reputations set by hand (tests, demos); unknown accounts have none yet."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, Role], Reputation] = {}

    def set(self, account_id: str, role: Role, rep: Reputation) -> None:
        self.table[(account_id, role)] = rep

    def of(self, account_id: str, role: Role) -> Reputation:
        return self.table.get((account_id, role), NO_RATINGS)

    def of_many(self, account_ids: Iterable[str], role: Role) -> dict[str, Reputation]:
        return {i: self.of(i, role) for i in account_ids}
