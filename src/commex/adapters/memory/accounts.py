"""In-memory accounts with their credentials, devices and capacity, and processing offers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.accounts import Account
from commex.domain.members import Device
from commex.domain.offers import ProcessingOffer
from commex.services.ports import Login, ResetRecord, SessionRecord
from commex.services.ports.accounts import name_taken
from commex.services.ports.uow import stored_conflict

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryAccounts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(
        self,
        account: Account,
        token_hash: str | None = None,
        login: Login | None = None,
        name_key: str | None = None,
    ) -> None:
        if account.id in self._s.accounts:
            raise stored_conflict()
        if name_key is not None and name_key in self._s.names:
            raise name_taken(account.name)
        if login is not None:
            if login.key in self._s.logins:
                raise name_taken(account.name)
            self._s.logins[login.key] = (account.id, login.password_hash)
        if name_key is not None:
            self._s.names[name_key] = account.id
        self._s.accounts[account.id] = account
        if token_hash:
            self._s.tokens[token_hash] = account.id

    def get(self, account_id: str) -> Account | None:
        return self._s.accounts.get(account_id)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        return {i: self._s.accounts[i] for i in account_ids if i in self._s.accounts}

    def names(self, account_ids: Iterable[str]) -> dict[str, str]:
        return {i: self._s.accounts[i].name for i in account_ids if i in self._s.accounts}

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

    def lock_shared(self, account_ids: Iterable[str]) -> None:
        return None  # the unit of work holds the store's lock

    def by_token_hash(self, token_hash: str) -> Account | None:
        owner = self._s.tokens.get(token_hash)
        return None if owner is None else self._s.accounts.get(owner)

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        for h, owner in list(self._s.tokens.items()):
            if owner == account_id:
                del self._s.tokens[h]
        self._s.tokens[token_hash] = account_id

    def set_suspension(
        self, account_id: str, suspended_at: datetime | None, reason: str | None
    ) -> None:
        found = self._s.accounts.get(account_id)
        if found is not None:
            self._s.accounts[account_id] = replace(
                found, suspended_at=suspended_at, suspension_reason=reason
            )

    def find(self, text: str, limit: int) -> list[Account]:
        needle = text.lower()
        found = [a for a in self._s.accounts.values() if a.id == text or needle in a.name.lower()]
        return sorted(found, key=lambda a: (-a.created_at.timestamp(), a.id))[:limit]

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        found = self._s.logins.get(login_key)
        if found is None:
            return None
        return self._s.accounts[found[0]], found[1]

    def add_session(self, session: SessionRecord) -> None:
        self._s.sessions[session.token_hash] = session

    def session(self, token_hash: str) -> SessionRecord | None:
        return self._s.sessions.get(token_hash)

    def touch_session(self, token_hash: str, at: datetime) -> None:
        found = self._s.sessions.get(token_hash)
        if found is not None:
            self._s.sessions[token_hash] = replace(found, last_used_at=at)

    def delete_session(self, token_hash: str) -> None:
        self._s.sessions.pop(token_hash, None)

    def delete_sessions_of(self, account_id: str, keep: str | None = None) -> int:
        gone = [h for h, s in self._s.sessions.items() if s.account_id == account_id and h != keep]
        for h in gone:
            del self._s.sessions[h]
        return len(gone)

    def delete_expired_sessions(self, now: datetime, idle_since: datetime) -> int:
        gone = [
            h for h, s in self._s.sessions.items() if s.expires_at <= now or s.used_at <= idle_since
        ]
        for h in gone:
            del self._s.sessions[h]
        return len(gone)

    def password_hash(self, account_id: str) -> str | None:
        for owner, digest in self._s.logins.values():
            if owner == account_id:
                return digest
        return None

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        for key, (owner, _) in list(self._s.logins.items()):
            if owner == account_id:
                self._s.logins[key] = (owner, password_hash)

    def add_reset(self, record: ResetRecord) -> None:
        for h, r in list(self._s.resets.items()):
            if r.account_id == record.account_id:
                del self._s.resets[h]
        self._s.resets[record.token_hash] = record

    def reset(self, token_hash: str) -> ResetRecord | None:
        return self._s.resets.get(token_hash)

    def use_reset(self, token_hash: str, now: datetime) -> bool:
        found = self._s.resets.get(token_hash)
        if found is None or found.used_at is not None or found.expires_at <= now:
            return False
        self._s.resets[token_hash] = replace(found, used_at=now)
        return True

    def add_device(self, device: Device, token_hash: str) -> None:
        self._s.devices[device.id] = (device, token_hash)

    def device(self, device_id: str) -> Device | None:
        found = self._s.devices.get(device_id)
        return None if found is None else found[0]

    def device_by_token_hash(self, token_hash: str) -> Device | None:
        revoked = self._s.revoked_devices
        found = (d for d, h in self._s.devices.values() if h == token_hash)
        return next((d for d in found if d.id not in revoked), None)

    def devices_of(self, recipient_id: str) -> list[Device]:
        found = [
            d
            for d, _ in self._s.devices.values()
            if d.recipient_id == recipient_id and d.id not in self._s.revoked_devices
        ]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def revoke_device(self, device_id: str, now: datetime) -> bool:
        if device_id not in self._s.devices or device_id in self._s.revoked_devices:
            return False
        self._s.revoked_devices[device_id] = now
        return True

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
