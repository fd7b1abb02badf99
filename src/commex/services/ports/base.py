"""What every area needs from the outside world: time, ids, password hashing, reputations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from commex.domain.accounts import Role
from commex.domain.events import Event
from commex.domain.reputation import Reputation

if TYPE_CHECKING:
    from commex.services.ports.uow import UnitOfWork


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str:
        """A new unique id such as ``auc_3f9c...``."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A salted, memory-hard hash of ``password``."""
        ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class ReputationSource(Protocol):
    """Reputations as they stand now, read in the caller's unit of work."""

    def of(self, uow: UnitOfWork, account_id: str, role: Role) -> Reputation: ...

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]: ...


class Observer(Protocol):
    """Told of every message the bus handled, for the operator's figures (metrics)."""

    def handled(self, message: object, result: object, error: BaseException | None) -> None:
        """``message`` was answered ``result``, or refused with ``error`` (``result`` None)."""
        ...


class EventSubscriber(Protocol):
    def __call__(self, events: Sequence[Event]) -> None:
        """Act on events that were committed (wake live pages, and later notify or charge)."""
        ...
