"""Accounts with their credentials (API token, login, web sessions), the devices of a
recipient's users, a provider's capacity; and processing offers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from commex.adapters.sql import tables as t
from commex.adapters.sql.conflicts import execute_unique
from commex.domain.accounts import Account, Role
from commex.domain.members import Device
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.time import from_micros, to_micros
from commex.services.ports import Login, SessionRecord
from commex.services.ports.accounts import name_taken

# Statements built once: executing a prebuilt statement skips SQLAlchemy's per-call cache-key
# generation, which otherwise costs more than the SQL itself on the bid path.
_ACCOUNT_GET = select(t.accounts).where(t.accounts.c.id == bindparam("id"))
_ACCOUNTS_IN = select(t.accounts).where(t.accounts.c.id.in_(bindparam("ids", expanding=True)))
_ACCOUNT_BY_TOKEN = select(t.accounts).where(t.accounts.c.token_hash == bindparam("token_hash"))


def account_of_row(r: Row[Any]) -> Account:
    roles = frozenset(Role(x) for x in r.roles.split(",") if x)
    return Account(r.id, r.name, roles, from_micros(r.created_us), r.owner_id)


def _device(r: Row[Any]) -> Device:
    phones = tuple(json.loads(r.phone_numbers))
    return Device(r.id, r.recipient_id, r.name, r.user_name, phones, from_micros(r.created_us))


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(
        self, account: Account, token_hash: str | None = None, login: Login | None = None
    ) -> None:
        values = {
            "id": account.id,
            "name": account.name,
            "roles": ",".join(sorted(r.value for r in account.roles)),
            "owner_id": account.owner_id,
            "token_hash": token_hash,
            "created_us": to_micros(account.created_at),
            "name_key": None if login is None else login.key,
            "password_hash": None if login is None else login.password_hash,
        }
        execute_unique(self._c, t.accounts.insert(), values, "name_key", name_taken(account.name))

    def get(self, account_id: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_GET, {"id": account_id}).first()
        return None if r is None else account_of_row(r)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        ids = list(set(account_ids))
        out: dict[str, Account] = {}
        for i in range(0, len(ids), 500):
            rows = self._c.execute(_ACCOUNTS_IN, {"ids": ids[i : i + 500]})
            out.update({r.id: account_of_row(r) for r in rows})
        return out

    def count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(t.accounts)).scalar_one())

    def named(self, text: str, role: str, limit: int) -> list[Account]:
        a = t.accounts.c
        lowered = "".join(ch.lower() if ch.isascii() else ch for ch in text)
        name = func.lower(a.name) if self._c.dialect.name == "sqlite" else _ascii_lower(a.name)
        q = (
            select(t.accounts)
            .where(name.contains(lowered, autoescape=True), a.roles.contains(role))
            .order_by(a.name, a.id)
            .limit(limit)
        )
        return [account_of_row(r) for r in self._c.execute(q)]

    def lock(self, account_id: str) -> None:
        if self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises
            q = select(t.accounts.c.id).where(t.accounts.c.id == account_id).with_for_update()
            self._c.execute(q)

    def by_token_hash(self, token_hash: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_BY_TOKEN, {"token_hash": token_hash}).first()
        return None if r is None else account_of_row(r)

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        q = update(t.accounts).where(t.accounts.c.id == account_id).values(token_hash=token_hash)
        self._c.execute(q)

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        r = self._c.execute(select(t.accounts).where(t.accounts.c.name_key == login_key)).first()
        if r is None or r.password_hash is None:
            return None
        return account_of_row(r), r.password_hash

    def add_session(self, session: SessionRecord) -> None:
        self._c.execute(
            t.sessions.insert().values(
                token_hash=session.token_hash,
                account_id=session.account_id,
                csrf=session.csrf,
                created_us=to_micros(session.created_at),
                expires_us=to_micros(session.expires_at),
            )
        )

    def session(self, token_hash: str) -> SessionRecord | None:
        r = self._c.execute(select(t.sessions).where(t.sessions.c.token_hash == token_hash)).first()
        if r is None:
            return None
        return SessionRecord(
            r.token_hash, r.account_id, r.csrf, from_micros(r.created_us), from_micros(r.expires_us)
        )

    def delete_session(self, token_hash: str) -> None:
        self._c.execute(t.sessions.delete().where(t.sessions.c.token_hash == token_hash))

    def delete_expired_sessions(self, now: datetime) -> int:
        q = t.sessions.delete().where(t.sessions.c.expires_us <= to_micros(now))
        return int(self._c.execute(q).rowcount)

    def add_device(self, device: Device, token_hash: str) -> None:
        self._c.execute(
            t.devices.insert().values(
                id=device.id,
                recipient_id=device.recipient_id,
                name=device.name,
                user_name=device.user,
                phone_numbers=json.dumps(list(device.phone_numbers)),
                token_hash=token_hash,
                created_us=to_micros(device.created_at),
            )
        )

    def device(self, device_id: str) -> Device | None:
        r = self._c.execute(select(t.devices).where(t.devices.c.id == device_id)).first()
        return None if r is None else _device(r)

    def device_by_token_hash(self, token_hash: str) -> Device | None:
        q = select(t.devices).where(t.devices.c.token_hash == token_hash)
        r = self._c.execute(q).first()
        return None if r is None else _device(r)

    def devices_of(self, recipient_id: str) -> list[Device]:
        d = t.devices.c
        q = select(t.devices).where(d.recipient_id == recipient_id).order_by(d.created_us, d.id)
        return [_device(r) for r in self._c.execute(q)]

    def capacity(self, provider_id: str) -> int | None:
        q = select(t.capacities.c.capacity_bps).where(t.capacities.c.provider_id == provider_id)
        value = self._c.execute(q).scalar()
        return None if value is None else int(value)

    def set_capacity(self, provider_id: str, capacity_bps: int, now: datetime) -> None:
        c = t.capacities.c
        done = self._c.execute(
            update(t.capacities)
            .where(c.provider_id == provider_id)
            .values(capacity_bps=capacity_bps, updated_us=to_micros(now))
        )
        if done.rowcount == 0:
            self._c.execute(
                t.capacities.insert().values(
                    provider_id=provider_id, capacity_bps=capacity_bps, updated_us=to_micros(now)
                )
            )


class SqlOffers:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def put(self, offer: ProcessingOffer) -> None:
        o = t.processing_offers
        self._c.execute(o.delete().where(o.c.provider_id == offer.provider_id))
        self._c.execute(
            o.insert().values(
                provider_id=offer.provider_id,
                node_url=offer.node_url,
                capabilities=",".join(sorted(offer.capabilities)),
                price_minor=offer.price.to_minor(),
                currency=offer.price.currency,
                updated_us=to_micros(offer.updated_at),
            )
        )

    def with_capability(self, capability: str) -> list[ProcessingOffer]:
        o = t.processing_offers.c
        rows = self._c.execute(select(t.processing_offers).order_by(o.provider_id)).all()
        offers = [
            ProcessingOffer(
                r.provider_id,
                r.node_url,
                frozenset(r.capabilities.split(",")),
                Money.from_stored(r.price_minor, r.currency),
                from_micros(r.updated_us),
            )
            for r in rows
        ]
        return [x for x in offers if capability in x.capabilities]


def _ascii_lower(column: Any) -> Any:
    """PostgreSQL's lower() of ASCII letters only, as SQLite's ``lower()`` (so every store
    finds the same names)."""
    return func.translate(column, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
