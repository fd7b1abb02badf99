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
    expires_at: datetime  # its absolute end (see commex.domain.credentials)
    last_used_at: datetime | None = None  # None: not since it began

    @property
    def used_at(self) -> datetime:
        return self.last_used_at or self.created_at


@dataclass(frozen=True, slots=True)
class ResetRecord:
    """A one-time password-reset link as stored: only the hash of its token is kept."""

    token_hash: str
    account_id: str
    by_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


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
        self,
        account: Account,
        token_hash: str | None = None,
        login: Login | None = None,
        name_key: str | None = None,
    ) -> None:
        """Store a new account with its API token's hash and, given them, its login and its
        folded name (see :func:`commex.services.names.name_key`); a login name or a folded name
        already taken raises Conflict ``the name 'X' is taken; please choose another``."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]: ...

    def names(self, account_ids: Iterable[str]) -> dict[str, str]:
        """The names of these accounts, by id, in one read (unknown ids left out)."""
        ...

    def count(self) -> int: ...

    def named(self, text: str, role: str, limit: int) -> list[Account]:
        """Accounts in ``role`` whose name holds ``text`` (any case of ASCII letters), by
        name."""
        ...

    def lock(self, account_id: str) -> None:
        """Hold the account's row lock until the unit of work ends (serialises updates of its
        reputation, its cards and its capacity)."""
        ...

    def lock_shared(self, account_ids: Iterable[str]) -> None:
        """Hold a shared lock on the accounts' rows until the unit of work ends: bids take it,
        so a suspension (which updates the row) waits for bids under way, and bids after it
        see the account suspended."""
        ...

    def by_token_hash(self, token_hash: str) -> Account | None: ...

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        """Replace the account's API token (the old one stops working)."""
        ...

    def set_suspension(
        self, account_id: str, suspended_at: datetime | None, reason: str | None
    ) -> None:
        """Suspend the account (``suspended_at`` and the reason) or, with None, reinstate it."""
        ...

    def find(self, text: str, limit: int) -> list[Account]:
        """Accounts whose id is ``text`` or whose name holds it (any case), newest first."""
        ...

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        """The account whose login name is ``login_key``, and its password hash."""
        ...

    def add_session(self, session: SessionRecord) -> None: ...

    def session(self, token_hash: str) -> SessionRecord | None: ...

    def touch_session(self, token_hash: str, at: datetime) -> None:
        """Write down that the session was used at ``at``."""
        ...

    def delete_session(self, token_hash: str) -> None: ...

    def delete_sessions_of(self, account_id: str, keep: str | None = None) -> int:
        """End every web session of the account but the one whose hash is ``keep``; how many
        ended."""
        ...

    def delete_expired_sessions(self, now: datetime, idle_since: datetime) -> int:
        """Forget sessions past their end at ``now``, or unused since ``idle_since``; how many
        there were."""
        ...

    def password_hash(self, account_id: str) -> str | None:
        """The account's password hash (None: it has no login)."""
        ...

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...

    def add_reset(self, record: ResetRecord) -> None:
        """Store a password-reset link, replacing every earlier link of its account."""
        ...

    def reset(self, token_hash: str) -> ResetRecord | None: ...

    def use_reset(self, token_hash: str, now: datetime) -> bool:
        """Mark the link used, only if it is unused and not expired at ``now``, in one atomic
        statement: whether it was (so a link works once, however many use it at once)."""
        ...

    def add_device(self, device: Device, token_hash: str) -> None: ...

    def device(self, device_id: str) -> Device | None: ...

    def device_by_token_hash(self, token_hash: str) -> Device | None: ...

    def devices_of(self, recipient_id: str) -> list[Device]:
        """The recipient's registered devices (not the deregistered), oldest first."""
        ...

    def revoke_device(self, device_id: str, now: datetime) -> bool:
        """Deregister the device: its token stops working at once; False when it was not
        registered (unknown, or deregistered before)."""
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
