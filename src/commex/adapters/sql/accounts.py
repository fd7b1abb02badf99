"""Accounts, their credentials and web sessions, and bid idempotency keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from commex.adapters.sql import tables as t
from commex.domain.accounts import Account, Role
from commex.domain.time import from_micros, to_micros
from commex.services.ports import SessionRecord

# Statements built once: executing a prebuilt statement skips SQLAlchemy's per-call cache-key
# generation, which otherwise costs more than the SQL itself on the bid path.
_ACCOUNT_GET = select(t.accounts).where(t.accounts.c.id == bindparam("id"))
_ACCOUNT_BY_TOKEN = select(t.accounts).where(t.accounts.c.token_hash == bindparam("token_hash"))


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, account: Account, token_hash: str | None = None) -> None:
        self._c.execute(
            t.accounts.insert().values(
                id=account.id,
                name=account.name,
                roles=",".join(sorted(r.value for r in account.roles)),
                owner_id=account.owner_id,
                token_hash=token_hash,
                created_us=to_micros(account.created_at),
            )
        )

    @staticmethod
    def row(r: Row[Any]) -> Account:
        roles = frozenset(Role(x) for x in r.roles.split(",") if x)
        return Account(r.id, r.name, roles, from_micros(r.created_us), r.owner_id)

    def get(self, account_id: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_GET, {"id": account_id}).first()
        return None if r is None else self.row(r)

    def lock(self, account_id: str) -> None:
        if self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises
            q = select(t.accounts.c.id).where(t.accounts.c.id == account_id).with_for_update()
            self._c.execute(q)

    def count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(t.accounts)).scalar_one())

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        ids = list(set(account_ids))
        out: dict[str, Account] = {}
        for i in range(0, len(ids), 500):
            rows = self._c.execute(select(t.accounts).where(t.accounts.c.id.in_(ids[i : i + 500])))
            out.update({r.id: self.row(r) for r in rows})
        return out


class SqlCredentials:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        q = update(t.accounts).where(t.accounts.c.id == account_id).values(token_hash=token_hash)
        self._c.execute(q)

    def by_token_hash(self, token_hash: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_BY_TOKEN, {"token_hash": token_hash}).first()
        return None if r is None else SqlAccounts.row(r)

    def set_password(self, account_id: str, login_key: str, password_hash: str) -> None:
        q = (
            update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(name_key=login_key, password_hash=password_hash)
        )
        self._c.execute(q)

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        r = self._c.execute(select(t.accounts).where(t.accounts.c.name_key == login_key)).first()
        if r is None or r.password_hash is None:
            return None
        return SqlAccounts.row(r), r.password_hash

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


class SqlIdempotency:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, account_id: str, key: str) -> tuple[str, str] | None:
        k = t.idempotency_keys.c
        r = self._c.execute(
            select(k.fingerprint, k.bid_id).where(k.account_id == account_id, k.key == key)
        ).first()
        return None if r is None else (r.fingerprint, r.bid_id)

    def add(self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime) -> None:
        self._c.execute(
            t.idempotency_keys.insert().values(
                account_id=account_id,
                key=key,
                fingerprint=fingerprint,
                bid_id=bid_id,
                created_us=to_micros(now),
            )
        )
