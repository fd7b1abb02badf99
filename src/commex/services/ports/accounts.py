"""Accounts with their credentials: API token, login and web sessions, the client devices of a
recipient's users (each with its own token), and a provider's declared capacity and offer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commex.domain.accounts import Account
from commex.domain.errors import Conflict
from commex.domain.members import Device
from commex.domain.offers import ProcessingOffer


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A web session as stored: only the hash of its cookie value is kept."""

    token_hash: str
    account_id: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Login:
    """A web login by name: the name as compared (see ``login_key``) and the password's hash."""

    key: str
    password_hash: str


def name_taken(name: str) -> Conflict:
    """How every account repository refuses a login name already in use."""
    return Conflict(f"the name {name!r} is taken; please choose another", "name")


class AccountRepository(Protocol):
    def add(
        self, account: Account, token_hash: str | None = None, login: Login | None = None
    ) -> None:
        """Store a new account with its API token's hash and, given one, its login; a login
        name already taken raises Conflict ``the name 'X' is taken; please choose another``."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]: ...

    def count(self) -> int: ...

    def named(self, text: str, role: str, limit: int) -> list[Account]:
        """Accounts in ``role`` whose name holds ``text`` (any case of ASCII letters), by
        name."""
        ...

    def lock(self, account_id: str) -> None:
        """Hold the account's row lock until the unit of work ends (serialises updates of its
        reputation, its cards and its capacity)."""
        ...

    def by_token_hash(self, token_hash: str) -> Account | None: ...

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        """Replace the account's API token (the old one stops working)."""
        ...

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        """The account whose login name is ``login_key``, and its password hash."""
        ...

    def add_session(self, session: SessionRecord) -> None: ...

    def session(self, token_hash: str) -> SessionRecord | None: ...

    def delete_session(self, token_hash: str) -> None: ...

    def delete_expired_sessions(self, now: datetime) -> int:
        """Forget sessions expired at ``now``; how many there were."""
        ...

    def add_device(self, device: Device, token_hash: str) -> None: ...

    def device(self, device_id: str) -> Device | None: ...

    def device_by_token_hash(self, token_hash: str) -> Device | None: ...

    def devices_of(self, recipient_id: str) -> list[Device]:
        """The recipient's devices, oldest first."""
        ...

    def capacity(self, provider_id: str) -> int | None:
        """The provider's declared capacity in bit/s (None: not declared)."""
        ...

    def set_capacity(self, provider_id: str, capacity_bps: int, now: datetime) -> None: ...


class OfferRepository(Protocol):
    """Providers' processing offers: a node's URL, its steps and a price."""

    def put(self, offer: ProcessingOffer) -> None:
        """Store the provider's offer, replacing its previous one."""
        ...

    def with_capability(self, capability: str) -> list[ProcessingOffer]:
        """Offers of ``capability``, by provider id."""
        ...
