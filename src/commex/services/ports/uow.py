"""The unit of work: one transaction, through which every repository is reached.

Everything read through it is consistent and everything written commits together or not at
all. Its caller owns it: the caller opens it, hands it to handlers, and commits. Handlers record
the events of what they did on it; the message bus publishes them once the commit has happened,
and hands them, just before the commit, to what must be written in the same transaction (the
notifications and the webhook outbox). Handlers also append what they changed to its audit trail
(:func:`commex.services.audit.record`), which commits with the change or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from commex.domain.errors import Conflict
from commex.domain.events import Event
from commex.services.ports.accounts import AccountRepository, OfferRepository
from commex.services.ports.auctions import AuctionRepository
from commex.services.ports.audit import AuditTrail
from commex.services.ports.billing import ChargeRepository, PaymentMethodRepository
from commex.services.ports.contracts import ContractRepository
from commex.services.ports.groups import GroupRepository
from commex.services.ports.market import (
    NotificationRepository,
    WatchRepository,
    WebhookRepository,
)
from commex.services.ports.ratings import RatingRepository
from commex.services.ports.subcontracts import NodeKeyRepository, SubcontractRepository
from commex.services.ports.throttles import ThrottleRepository


def stored_conflict() -> Conflict:
    """How a store refuses a change that breaks a constraint its repository names no better
    (an id used twice, say)."""
    return Conflict("the change conflicts with data already stored")


class UnitOfWork(Protocol):
    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def auctions(self) -> AuctionRepository: ...

    @property
    def contracts(self) -> ContractRepository: ...

    @property
    def ratings(self) -> RatingRepository: ...

    @property
    def groups(self) -> GroupRepository: ...

    @property
    def charges(self) -> ChargeRepository: ...

    @property
    def payment_methods(self) -> PaymentMethodRepository: ...

    @property
    def offers(self) -> OfferRepository: ...

    @property
    def watches(self) -> WatchRepository: ...

    @property
    def notifications(self) -> NotificationRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    @property
    def throttles(self) -> ThrottleRepository: ...

    @property
    def audit(self) -> AuditTrail:
        """The append-only audit trail: see :func:`commex.services.audit.record`."""
        ...

    @property
    def subcontracts(self) -> SubcontractRepository: ...

    @property
    def node_keys(self) -> NodeKeyRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed."""
        ...

    def commit(self) -> None: ...

    def before_commit(self, hook: Callable[[Sequence[Event]], None]) -> None:
        """Call ``hook`` with the events recorded, inside this transaction, just before it
        commits (and with any events the hooks record in turn); a hook that raises stops the
        commit."""
        ...

    def record(self, events: Iterable[Event]) -> None:
        """Keep events to publish once this unit of work has committed."""
        ...

    def collect_events(self) -> list[Event]:
        """The events recorded, if the unit of work committed (else none), handed over once."""
        ...

    def watch(self, watcher: Callable[[Sequence[Event]], None]) -> None:
        """Show ``watcher`` each batch of events as it is recorded, before the commit, so that
        it can write what they imply (their audit entries) in this same transaction."""
        ...


class HeldUnitsOfWork(Protocol):
    """Write units of work opened one after another (never two at once) on one connection
    held between them, for a caller that opens many in turn (a desk): taking a connection from
    the pool and giving it back cost as much as a small batch's statements."""

    def __call__(self) -> UnitOfWork:
        """A new write unit of work on the held connection (a fresh one after a failure)."""
        ...

    def release(self) -> None:
        """Give the held connection back."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """A new unit of work; ``write=False`` for a read-only one that takes no write lock."""
        ...

    def on_one_connection(self) -> HeldUnitsOfWork:
        """Write units of work on a connection held between them (see
        :class:`HeldUnitsOfWork`)."""
        ...

    def write_turn(self) -> AbstractContextManager[None]:
        """Wait for this caller's turn to write, where the store lets one writer in at a time
        (a SQLite file), and hold it: write units of work opened inside it by the same thread
        do not wait again. A caller that gathers work while it waits (a desk) gathers it once
        its turn has come. A store without a single writer gives the turn at once."""
        ...

    def dispose(self) -> None:
        """Release pooled connections."""
        ...


_HOOK_ROUNDS = 4  # events a hook records are handed over too, in a bounded number of rounds


class EventLog:
    """The events part of a unit of work, for adapters to inherit: events recorded during the
    transaction go to the before-commit hooks when the adapter calls :meth:`run_before_commit`
    (first thing in its ``commit``), and are handed over only after a commit."""

    def __init__(self) -> None:
        self.committed = False
        self._events: list[Event] = []
        self._hooks: list[Callable[[Sequence[Event]], None]] = []
        self._handed = 0
        self._watchers: list[Callable[[Sequence[Event]], None]] = []

    def record(self, events: Iterable[Event]) -> None:
        batch = list(events)
        for watcher in self._watchers:
            watcher(batch)
        self._events.extend(batch)

    def watch(self, watcher: Callable[[Sequence[Event]], None]) -> None:
        self._watchers.append(watcher)

    def before_commit(self, hook: Callable[[Sequence[Event]], None]) -> None:
        self._hooks.append(hook)

    def run_before_commit(self) -> None:
        """Hand the events recorded since the last call to every hook, in the transaction."""
        for _ in range(_HOOK_ROUNDS):
            fresh = self._events[self._handed :]
            if not fresh or not self._hooks:
                return
            self._handed = len(self._events)
            for hook in self._hooks:
                hook(fresh)

    def collect_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events if self.committed else []
