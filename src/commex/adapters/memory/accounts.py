"""In-memory accounts with their credentials, devices and capacity, and processing offers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.accounts import Account
from commex.domain.members import Device
from commex.domain.offers import ProcessingOffer
from commex.services.ports import Login, SessionRecord
from commex.services.ports.accounts import name_taken
from commex.services.ports.uow import stored_conflict

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryAccounts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(
        self, account: Account, token_hash: str | None = None, login: Login | None = None
    ) -> None:
        if account.id in self._s.accounts:
            raise stored_conflict()
        if login is not None:
            if login.key in self._s.logins:
                raise name_taken(account.name)
            self._s.logins[login.key] = (account.id, login.password_hash)
        self._s.accounts[account.id] = account
        if token_hash:
            self._s.tokens[token_hash] = account.id

    def get(self, account_id: str) -> Account | None:
        return self._s.accounts.get(account_id)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        return {i: self._s.accounts[i] for i in account_ids if i in self._s.accounts}

    def count(self) -> int:
        return len(self._s.accounts)

    def named(self, text: str, role: str, limit: int) -> list[Account]:
        wanted = text.lower()
        found = [
            a
            for a in self._s.accounts.values()
            if wanted in _ascii_lower(a.name) and role in {r.value for r in a.roles}
        ]
        return sorted(found, key=lambda a: (a.name, a.id))[:limit]

    def lock(self, account_id: str) -> None:
        return None  # the unit of work holds the store's lock

    def by_token_hash(self, token_hash: str) -> Account | None:
        owner = self._s.tokens.get(token_hash)
        return None if owner is None else self._s.accounts.get(owner)

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        for h, owner in list(self._s.tokens.items()):
            if owner == account_id:
                del self._s.tokens[h]
        self._s.tokens[token_hash] = account_id

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        found = self._s.logins.get(login_key)
        if found is None:
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

    def add_device(self, device: Device, token_hash: str) -> None:
        self._s.devices[device.id] = (device, token_hash)

    def device(self, device_id: str) -> Device | None:
        found = self._s.devices.get(device_id)
        return None if found is None else found[0]

    def device_by_token_hash(self, token_hash: str) -> Device | None:
        return next((d for d, h in self._s.devices.values() if h == token_hash), None)

    def devices_of(self, recipient_id: str) -> list[Device]:
        found = [d for d, _ in self._s.devices.values() if d.recipient_id == recipient_id]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def capacity(self, provider_id: str) -> int | None:
        return self._s.capacities.get(provider_id)

    def set_capacity(self, provider_id: str, capacity_bps: int, now: datetime) -> None:
        self._s.capacities[provider_id] = capacity_bps


class MemoryOffers:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def put(self, offer: ProcessingOffer) -> None:
        self._s.offers[offer.provider_id] = offer

    def with_capability(self, capability: str) -> list[ProcessingOffer]:
        found = [o for o in self._s.offers.values() if capability in o.capabilities]
        return sorted(found, key=lambda o: o.provider_id)


def _ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only, as SQLite's ``lower()`` does (so every store finds
    the same names)."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)
