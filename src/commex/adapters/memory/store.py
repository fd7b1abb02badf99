"""The in-memory store and its unit of work.

A unit of work holds the store's lock for its whole life and takes a snapshot of the tables on
entry; writes go straight to the tables and are undone (the snapshot restored) unless committed.
So concurrent use from threads stays consistent, and a conditional update is as atomic as the
database's.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from types import TracebackType
from typing import Self

from commex.adapters.memory.accounts import MemoryAccounts, MemoryOffers
from commex.adapters.memory.auctions import MemoryAuctions
from commex.adapters.memory.audit import MemoryAudit
from commex.adapters.memory.billing import MemoryCharges, MemoryPaymentMethods
from commex.adapters.memory.contracts import MemoryContracts
from commex.adapters.memory.groups import MemoryGroups
from commex.adapters.memory.market import MemoryNotifications, MemoryWatches, MemoryWebhooks
from commex.adapters.memory.ratings import MemoryRatings
from commex.adapters.memory.subcontracts import MemoryNodeKeys, MemorySubcontracts
from commex.adapters.memory.throttles import MemoryThrottles
from commex.domain.accounts import Account
from commex.domain.auctions import Auction, Bid
from commex.domain.audit import AuditEntry
from commex.domain.charges import Charge, Payout, Refund
from commex.domain.contracts import Contract
from commex.domain.groups import Group, GroupMember, Sponsorship
from commex.domain.members import Device, Member
from commex.domain.nodekeys import NodeKey
from commex.domain.notices import Fanout, Notice
from commex.domain.offers import ProcessingOffer
from commex.domain.payment_methods import PaymentMethod
from commex.domain.ratings import Rating
from commex.domain.reputation import PairTally, Tally
from commex.domain.service_level import Delivery
from commex.domain.subcontracts import Subcontract
from commex.domain.throttling import ThrottleState
from commex.domain.usage import UsageSession
from commex.domain.webhooks import Attempt, Webhook, WebhookDelivery
from commex.services.ports import EventLog, ResetRecord, SessionRecord


class MemoryStore:
    """The tables, one dictionary each."""

    TABLES = (
        "accounts", "tokens", "logins", "sessions", "devices", "capacities", "offers",
        "auctions", "bids", "bid_keys", "contracts", "members", "usage", "deliveries",
        "ratings", "tallies", "pairs", "payment_methods", "groups", "group_members",
        "group_sponsors", "group_auctions", "charges", "payouts", "watches", "notices",
        "webhooks", "deliveries_out", "webhook_attempts", "fanouts", "names", "revoked_devices",
        "refunds", "throttles", "resets", "subcontracts", "subcontract_runs", "node_keys", "audit",
        "auction_versions",
    )  # fmt: skip

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, str] = {}  # token hash -> account id
        self.logins: dict[str, tuple[str, str]] = {}  # login key -> (account id, password hash)
        self.sessions: dict[str, SessionRecord] = {}
        self.devices: dict[str, tuple[Device, str]] = {}  # id -> (device, token hash)
        self.capacities: dict[str, int] = {}
        self.offers: dict[str, ProcessingOffer] = {}
        self.auctions: dict[str, Auction] = {}
        self.auction_versions: dict[str, int] = {}  # id -> writes since it was added
        self.bids: dict[str, Bid] = {}
        self.bid_keys: dict[tuple[str, str], tuple[str, str]] = {}
        self.contracts: dict[str, Contract] = {}
        self.members: dict[str, Member] = {}
        self.usage: dict[str, UsageSession] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.ratings: dict[str, Rating] = {}
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.pairs: dict[tuple[str, str, str], PairTally] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.groups: dict[str, Group] = {}
        self.group_members: dict[tuple[str, str], GroupMember] = {}
        self.group_sponsors: dict[tuple[str, str, str], Sponsorship] = {}
        self.group_auctions: dict[str, tuple[str, datetime, bool]] = {}
        self.charges: dict[str, Charge] = {}
        self.payouts: dict[str, Payout] = {}
        # the marketplace: (account, auction) -> (watched since, reminded at)
        self.watches: dict[tuple[str, str], tuple[datetime, datetime | None]] = {}
        self.notices: dict[str, Notice] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries_out: dict[str, tuple[WebhookDelivery, datetime | None]] = {}  # claimed
        self.webhook_attempts: dict[tuple[str, int], Attempt] = {}
        self.delivery_seq = 0
        self.fanouts: dict[str, Fanout] = {}
        self.names: dict[str, str] = {}  # folded name -> account id
        self.revoked_devices: dict[str, datetime] = {}
        self.refunds: dict[str, Refund] = {}
        self.throttles: dict[str, ThrottleState] = {}
        self.resets: dict[str, ResetRecord] = {}  # token hash -> password-reset link
        self.audit: dict[int, AuditEntry] = {}  # seq -> entry, appended only
        self.subcontracts: dict[str, tuple[Subcontract, str]] = {}  # id -> (it, token hash)
        self.subcontract_runs: dict[tuple[str, str], int] = {}  # (id, run id) -> packets
        self.node_keys: dict[str, tuple[NodeKey, str]] = {}  # id -> (key, key hash)


class MemoryUnitOfWork(EventLog):
    """A transaction over a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store
        self.accounts = MemoryAccounts(store)
        self.offers = MemoryOffers(store)
        self.auctions = MemoryAuctions(store)
        self.contracts = MemoryContracts(store)
        self.ratings = MemoryRatings(store)
        self.groups = MemoryGroups(store)
        self.charges = MemoryCharges(store)
        self.payment_methods = MemoryPaymentMethods(store)
        self.watches = MemoryWatches(store)
        self.notifications = MemoryNotifications(store)
        self.webhooks = MemoryWebhooks(store)
        self.throttles = MemoryThrottles(store)
        self.audit = MemoryAudit(store)
        self.subcontracts = MemorySubcontracts(store)
        self.node_keys = MemoryNodeKeys(store)

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        s = self._store
        self._snapshot = {name: dict(getattr(s, name)) for name in MemoryStore.TABLES}
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
        self.run_before_commit()
        self.committed = True


class _MemoryHeld:
    """The store has no connections: each unit of work is the factory's own."""

    def __init__(self, factory: MemoryUnitOfWorkFactory) -> None:
        self._factory = factory

    def __call__(self) -> MemoryUnitOfWork:
        return self._factory(write=True)

    def release(self) -> None:
        return None


class MemoryUnitOfWorkFactory:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, write: bool = True) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    def on_one_connection(self) -> _MemoryHeld:
        return _MemoryHeld(self)

    def write_turn(self) -> AbstractContextManager[None]:
        return nullcontext()  # every unit of work takes the store's lock in turn anyway

    def dispose(self) -> None:
        return None
