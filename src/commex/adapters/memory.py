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

from commex.adapters.memory_billing import MemoryCharges, MemoryGroups
from commex.adapters.memory_payments import MemoryPaymentMethods
from commex.adapters.memory_usage import MemoryCapacities, MemoryDeliveries, MemoryUsage
from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Status
from commex.domain.charges import Charge, Payout
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict
from commex.domain.groups import Group, GroupMember, Sponsorship
from commex.domain.members import Device, Member, MemberKind
from commex.domain.offers import ProcessingOffer
from commex.domain.payment_methods import PaymentMethod
from commex.domain.ratings import Rating
from commex.domain.reputation import NO_RATINGS, PairTally, Reputation, Tally
from commex.domain.service_level import Delivery
from commex.domain.usage import UsageSession
from commex.services.ports import SessionRecord

_TABLES = (
    "accounts",
    "tokens",
    "auctions",
    "bids",
    "contracts",
    "logins",
    "sessions",
    "idempotency",
    "offers",
    "devices",
    "members",
    "ratings",
    "tallies",
    "pairs",
    "sessions_used",
    "deliveries",
    "capacities",
    "payment_methods",
    "groups",
    "group_members",
    "group_sponsors",
    "group_auctions",
    "charges",
    "payouts",
)


class MemoryStore:
    """The tables."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, str] = {}
        self.auctions: dict[str, Auction] = {}
        self.bids: dict[str, Bid] = {}
        self.contracts: dict[str, Contract] = {}
        self.logins: dict[str, tuple[str, str]] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        self.offers: dict[str, ProcessingOffer] = {}
        self.devices: dict[str, tuple[Device, str]] = {}
        self.members: dict[str, Member] = {}
        self.ratings: dict[str, Rating] = {}
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.pairs: dict[tuple[str, str, str], PairTally] = {}
        self.sessions_used: dict[str, UsageSession] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.capacities: dict[str, int] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.groups: dict[str, Group] = {}
        self.group_members: dict[tuple[str, str], GroupMember] = {}
        self.group_sponsors: dict[tuple[str, str, str], Sponsorship] = {}
        self.group_auctions: dict[str, tuple[str, datetime, bool]] = {}
        self.charges: dict[str, Charge] = {}
        self.payouts: dict[str, Payout] = {}


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

    def count(self) -> int:
        return len(self._s.accounts)

    def lock(self, account_id: str) -> None:
        return None  # the store's lock is held for the whole unit of work


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

    def cheapest_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        ranked = sorted(self.active(auction_id), key=lambda b: (b.amount.to_minor(), b.seq))
        if after is not None:
            ranked = [b for b in ranked if (b.amount.to_minor(), b.seq) > after]
        return ranked[:limit]

    def recent(self, auction_id: str, limit: int) -> list[Bid]:
        return self.for_auction(auction_id)[::-1][:limit]

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

    def get_for_update(self, contract_id: str) -> Contract | None:
        return self._s.contracts.get(contract_id)  # the unit of work holds the store's lock

    def set_used(self, contract_id: str, used_ms: int) -> None:
        self._s.contracts[contract_id] = replace(self._s.contracts[contract_id], used_ms=used_ms)

    def of_provider(self, provider_id: str, status: str | None) -> list[Contract]:
        found = [
            c
            for c in self._s.contracts.values()
            if c.provider_id == provider_id and (status is None or c.status.value == status)
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)

    def for_auction(self, auction_id: str) -> list[Contract]:
        return [c for c in self._s.contracts.values() if c.auction_id == auction_id]

    def update(self, contract: Contract) -> None:
        self._s.contracts[contract.id] = contract

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        due = [
            c
            for c in self._s.contracts.values()
            if c.status is ContractStatus.AWARDED
            and c.terms.window_start is not None
            and c.terms.window_start <= now
        ]
        return sorted(due, key=lambda c: c.terms.window_start or now)[:limit]

    def for_account(self, account_id: str) -> list[Contract]:
        shared = {
            m.contract_id
            for m in self._s.members.values()
            if m.kind is MemberKind.ACCOUNT and m.ref == account_id and m.removed_at is None
        }
        found = [
            c
            for c in self._s.contracts.values()
            if account_id in (c.provider_id, c.recipient_id) or c.id in shared
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)


class _Credentials:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        for h, owner in list(self._s.tokens.items()):
            if owner == account_id:
                del self._s.tokens[h]
        self._s.tokens[token_hash] = account_id

    def by_token_hash(self, token_hash: str) -> Account | None:
        owner = self._s.tokens.get(token_hash)
        return None if owner is None else self._s.accounts.get(owner)

    def set_password(self, account_id: str, login_key: str, password_hash: str) -> None:
        taken = self._s.logins.get(login_key)
        if taken is not None and taken[0] != account_id:
            raise Conflict("that login name is taken")
        self._s.logins[login_key] = (account_id, password_hash)

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        found = self._s.logins.get(login_key)
        if found is None or found[0] not in self._s.accounts:
            return None
        return self._s.accounts[found[0]], found[1]

    def add_session(self, session: SessionRecord) -> None:
        self._s.sessions[session.token_hash] = session

    def session(self, token_hash: str) -> SessionRecord | None:
        return self._s.sessions.get(token_hash)

    def delete_session(self, token_hash: str) -> None:
        self._s.sessions.pop(token_hash, None)

    def delete_expired_sessions(self, now: datetime) -> int:
        gone = [h for h, s in self._s.sessions.items() if s.expires_at <= now]
        for h in gone:
            del self._s.sessions[h]
        return len(gone)


class _Idempotency:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def get(self, account_id: str, key: str) -> tuple[str, str] | None:
        return self._s.idempotency.get((account_id, key))

    def add(self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime) -> None:
        if (account_id, key) in self._s.idempotency:
            raise Conflict("that idempotency key was used already")
        self._s.idempotency[(account_id, key)] = (fingerprint, bid_id)


class _Offers:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def put(self, offer: ProcessingOffer) -> None:
        self._s.offers[offer.provider_id] = offer

    def with_capability(self, capability: str) -> list[ProcessingOffer]:
        return [o for o in self._s.offers.values() if capability in o.capabilities]


class _Devices:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, device: Device, token_hash: str) -> None:
        self._s.devices[device.id] = (device, token_hash)

    def get(self, device_id: str) -> Device | None:
        found = self._s.devices.get(device_id)
        return None if found is None else found[0]

    def by_token_hash(self, token_hash: str) -> Device | None:
        return next((d for d, h in self._s.devices.values() if h == token_hash), None)

    def of_recipient(self, recipient_id: str) -> list[Device]:
        return [d for d, _ in self._s.devices.values() if d.recipient_id == recipient_id]


class _Members:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, member: Member) -> None:
        self._s.members[member.id] = member

    def get(self, member_id: str) -> Member | None:
        return self._s.members.get(member_id)

    def remove(self, member_id: str, now: datetime) -> None:
        self._s.members[member_id] = replace(self._s.members[member_id], removed_at=now)

    def restore(self, member_id: str) -> None:
        self._s.members[member_id] = replace(self._s.members[member_id], removed_at=None)

    def of_contract(self, contract_id: str, *, removed: bool = False) -> list[Member]:
        found = [
            m
            for m in self._s.members.values()
            if m.contract_id == contract_id and (removed or m.removed_at is None)
        ]
        return sorted(found, key=lambda m: (m.created_at, m.id))


class _Ratings:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, rating: Rating) -> None:
        if self.exists(rating.contract_id, rating.rated_role.value, rating.rater_key):
            raise Conflict("you have already rated this contract")
        self._s.ratings[rating.id] = rating

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool:
        return any(
            r.contract_id == contract_id and r.rated_role.value == role and r.rater_key == rater_key
            for r in self._s.ratings.values()
        )

    def of_contract(self, contract_id: str) -> list[Rating]:
        found = [r for r in self._s.ratings.values() if r.contract_id == contract_id]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        wanted = set(account_ids)
        counts: dict[str, int] = {}
        for r in self._s.ratings.values():
            if r.rated_id in wanted and r.rated_role.value == role and r.created_at >= since:
                counts[r.rated_id] = counts.get(r.rated_id, 0) + 1
        return counts


class _Reputations:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]:
        return {a: self._s.tallies[(a, role)] for a in account_ids if (a, role) in self._s.tallies}

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None:
        return self._s.pairs.get((account_id, role, counterparty))

    def put(self, account_id: str, role: str, tally: Tally) -> None:
        self._s.tallies[(account_id, role)] = tally

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None:
        self._s.pairs[(account_id, role, counterparty)] = pair


class MemoryUnitOfWork:
    """A transaction over a :class:`MemoryStore`: the store's lock is held for its whole life,
    and writes are undone unless committed (a snapshot is restored)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.accounts = _Accounts(store)
        self.auctions = _Auctions(store)
        self.bids = _Bids(store)
        self.contracts = _Contracts(store)
        self.credentials = _Credentials(store)
        self.idempotency = _Idempotency(store)
        self.offers = _Offers(store)
        self.devices = _Devices(store)
        self.members = _Members(store)
        self.ratings = _Ratings(store)
        self.reputations = _Reputations(store)
        self.usage = MemoryUsage(store)
        self.deliveries = MemoryDeliveries(store)
        self.capacities = MemoryCapacities(store)
        self.payment_methods = MemoryPaymentMethods(store)
        self.groups = MemoryGroups(store)
        self.charges = MemoryCharges(store)
        self.committed = False

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        s = self._store
        self._snapshot = {name: dict(getattr(s, name)) for name in _TABLES}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                for name, table in self._snapshot.items():
                    setattr(self._store, name, table)
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
