"""Accounts with their credentials (API token, login, web sessions), the devices of a
recipient's users, a provider's capacity; and processing offers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from commex.adapters.sql import tables as t
from commex.adapters.sql import trust_tables as tt
from commex.adapters.sql.bulk import InListSelect
from commex.adapters.sql.conflicts import execute_unique, is_unique_violation
from commex.domain.accounts import Account, Role
from commex.domain.members import Device
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.time import from_micros, to_micros
from commex.services.ports import Login, ResetRecord, SessionRecord
from commex.services.ports.accounts import name_taken

# Statements built once: executing a prebuilt statement skips SQLAlchemy's per-call cache-key
# generation, which otherwise costs more than the SQL itself on the bid path.
_ACCOUNT_GET = select(t.accounts).where(t.accounts.c.id == bindparam("id"))
_ACCOUNTS_IN = InListSelect(
    select(t.accounts).where(t.accounts.c.id.in_(bindparam("ids", expanding=True))), "ids"
)
_NAMES_IN = select(t.accounts.c.id, t.accounts.c.name).where(
    t.accounts.c.id.in_(bindparam("ids", expanding=True))
)
_ACCOUNT_BY_TOKEN = select(t.accounts).where(t.accounts.c.token_hash == bindparam("token_hash"))


def account_of_row(r: Row[Any]) -> Account:
    roles = frozenset(Role(x) for x in r.roles.split(",") if x)
    suspended = None if r.suspended_us is None else from_micros(r.suspended_us)
    return Account(
        r.id, r.name, roles, from_micros(r.created_us), r.owner_id, suspended,
        r.suspension_reason,
    )  # fmt: skip


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _device(r: Row[Any]) -> Device:
    phones = tuple(json.loads(r.phone_numbers))
    return Device(r.id, r.recipient_id, r.name, r.user_name, phones, from_micros(r.created_us))


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(
        self,
        account: Account,
        token_hash: str | None = None,
        login: Login | None = None,
        name_key: str | None = None,
    ) -> None:
        taken = name_taken(account.name)
        if name_key is not None:
            q = select(t.accounts.c.id).where(t.accounts.c.name_fold == name_key)
            if self._c.execute(q).first() is not None:
                raise taken  # the unique index below decides a race; this says it plainly
        values = {
            "id": account.id,
            "name": account.name,
            "roles": ",".join(sorted(r.value for r in account.roles)),
            "owner_id": account.owner_id,
            "token_hash": token_hash,
            "created_us": to_micros(account.created_at),
            "name_key": None if login is None else login.key,
            "password_hash": None if login is None else login.password_hash,
            "name_fold": name_key,
        }
        try:
            execute_unique(self._c, t.accounts.insert(), values, "name_key", taken)
        except IntegrityError as exc:
            if is_unique_violation(exc, "name_fold"):
                raise taken from exc
            raise

    def get(self, account_id: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_GET, {"id": account_id}).first()
        return None if r is None else account_of_row(r)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        ids = list(set(account_ids))
        if len(ids) == 1:  # no IN list to expand
            found = self.get(ids[0])
            return {} if found is None else {ids[0]: found}
        out: dict[str, Account] = {}
        for i in range(0, len(ids), 500):
            rows = _ACCOUNTS_IN.run(self._c, ids[i : i + 500])
            out.update({r.id: account_of_row(r) for r in rows})
        return out

    def names(self, account_ids: Iterable[str]) -> dict[str, str]:
        ids = list(set(account_ids))
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            out.update(
                {r.id: r.name for r in self._c.execute(_NAMES_IN, {"ids": ids[i : i + 500]})}
            )
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

    def lock_shared(self, account_ids: Iterable[str]) -> None:
        if self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises
            a = t.accounts.c
            ids = sorted(set(account_ids))
            self._c.execute(
                select(a.id).where(a.id.in_(ids)).order_by(a.id).with_for_update(read=True)
            )

    def by_token_hash(self, token_hash: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_BY_TOKEN, {"token_hash": token_hash}).first()
        return None if r is None else account_of_row(r)

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        q = update(t.accounts).where(t.accounts.c.id == account_id).values(token_hash=token_hash)
        self._c.execute(q)

    def set_suspension(
        self, account_id: str, suspended_at: datetime | None, reason: str | None
    ) -> None:
        at = None if suspended_at is None else to_micros(suspended_at)
        q = update(t.accounts).where(t.accounts.c.id == account_id)
        self._c.execute(q.values(suspended_us=at, suspension_reason=reason))

    def find(self, text: str, limit: int) -> list[Account]:
        a = t.accounts.c
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = (
            select(t.accounts)
            .where(or_(a.id == text, func.lower(a.name).like(pattern.lower(), escape="\\")))
            .order_by(a.created_us.desc(), a.id)
            .limit(limit)
        )
        return [account_of_row(r) for r in self._c.execute(q)]

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
                last_used_us=None
                if session.last_used_at is None
                else to_micros(session.last_used_at),
            )
        )

    def session(self, token_hash: str) -> SessionRecord | None:
        r = self._c.execute(select(t.sessions).where(t.sessions.c.token_hash == token_hash)).first()
        if r is None:
            return None
        used = None if r.last_used_us is None else from_micros(r.last_used_us)
        return SessionRecord(
            r.token_hash, r.account_id, r.csrf, from_micros(r.created_us),
            from_micros(r.expires_us), used,
        )  # fmt: skip

    def touch_session(self, token_hash: str, at: datetime) -> None:
        q = update(t.sessions).where(t.sessions.c.token_hash == token_hash)
        self._c.execute(q.values(last_used_us=to_micros(at)))

    def delete_session(self, token_hash: str) -> None:
        self._c.execute(t.sessions.delete().where(t.sessions.c.token_hash == token_hash))

    def delete_sessions_of(self, account_id: str, keep: str | None = None) -> int:
        s = t.sessions.c
        q = t.sessions.delete().where(s.account_id == account_id)
        if keep is not None:
            q = q.where(s.token_hash != keep)
        return int(self._c.execute(q).rowcount)

    def delete_expired_sessions(self, now: datetime, idle_since: datetime) -> int:
        s = t.sessions.c
        idle = func.coalesce(s.last_used_us, s.created_us) <= to_micros(idle_since)
        q = t.sessions.delete().where(or_(s.expires_us <= to_micros(now), idle))
        return int(self._c.execute(q).rowcount)

    def password_hash(self, account_id: str) -> str | None:
        q = select(t.accounts.c.password_hash).where(t.accounts.c.id == account_id)
        value = self._c.execute(q).scalar()
        return None if value is None else str(value)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        q = update(t.accounts).where(t.accounts.c.id == account_id)
        self._c.execute(q.values(password_hash=password_hash))

    def add_reset(self, record: ResetRecord) -> None:
        r = tt.password_resets
        self._c.execute(r.delete().where(r.c.account_id == record.account_id))
        self._c.execute(
            r.insert().values(
                token_hash=record.token_hash,
                account_id=record.account_id,
                by_id=record.by_id,
                created_us=to_micros(record.created_at),
                expires_us=to_micros(record.expires_at),
            )
        )

    def reset(self, token_hash: str) -> ResetRecord | None:
        r = tt.password_resets
        x = self._c.execute(select(r).where(r.c.token_hash == token_hash)).first()
        if x is None:
            return None
        used = None if x.used_us is None else from_micros(x.used_us)
        return ResetRecord(
            x.token_hash, x.account_id, x.by_id, from_micros(x.created_us),
            from_micros(x.expires_us), used,
        )  # fmt: skip

    def use_reset(self, token_hash: str, now: datetime) -> bool:
        r = tt.password_resets.c
        at = to_micros(now)
        q = update(tt.password_resets).where(
            r.token_hash == token_hash, r.used_us.is_(None), r.expires_us > at
        )
        return int(self._c.execute(q.values(used_us=at)).rowcount) == 1

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
        d = t.devices.c
        q = select(t.devices).where(d.token_hash == token_hash, d.revoked_us.is_(None))
        r = self._c.execute(q).first()
        return None if r is None else _device(r)

    def devices_of(self, recipient_id: str) -> list[Device]:
        d = t.devices.c
        q = select(t.devices).where(d.recipient_id == recipient_id, d.revoked_us.is_(None))
        return [_device(r) for r in self._c.execute(q.order_by(d.created_us, d.id))]

    def revoke_device(self, device_id: str, now: datetime) -> bool:
        d = t.devices.c
        q = update(t.devices).where(d.id == device_id, d.revoked_us.is_(None))
        return bool(self._c.execute(q.values(revoked_us=to_micros(now))).rowcount)

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
