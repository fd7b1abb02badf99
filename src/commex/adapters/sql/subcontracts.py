"""Subcontracts (a contract row and a row of their own), their metered runs, and node keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, case, func, or_, select, update

from commex.adapters.sql import subcontract_tables as st
from commex.adapters.sql import tables as t
from commex.adapters.sql.conflicts import execute_unique
from commex.adapters.sql.contracts import SqlContracts, lifecycle
from commex.adapters.sql.contracts import _contract as contract_of_row
from commex.adapters.sql.rows import newest_after, oldest_after
from commex.domain.nodekeys import NodeKey
from commex.domain.paging import Key
from commex.domain.subcontracts import CHECK_RATER, CheckOutcome, Subcontract
from commex.domain.time import from_micros, to_micros
from commex.services.ports.subcontracts import run_metered

_COLUMNS = (
    *t.contracts.c,
    st.subcontracts.c.step,
    st.subcontracts.c.packets,
    st.subcontracts.c.outcome,
    st.subcontracts.c.detail,
    st.subcontracts.c.closed_us,
)
_JOINED = t.contracts.join(st.subcontracts, st.subcontracts.c.contract_id == t.contracts.c.id)


def _sub(r: Row[Any]) -> Subcontract:
    return Subcontract(
        contract=contract_of_row(r),
        step=r.step,
        packets=r.packets,
        outcome=None if r.outcome is None else CheckOutcome(r.outcome),
        detail=r.detail,
        closed_at=None if r.closed_us is None else from_micros(r.closed_us),
    )


class SqlSubcontracts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, sub: Subcontract, work_token_hash: str) -> None:
        SqlContracts(self._c).add_many([sub.contract])
        self._c.execute(
            st.subcontracts.insert().values(
                contract_id=sub.id,
                step=sub.step,
                work_token_hash=work_token_hash,
                packets=sub.packets,
                outcome=None,
                detail=None,
                closed_us=None,
            )
        )

    def _one(self, contract_id: str, lock: bool) -> Subcontract | None:
        q = select(*_COLUMNS).select_from(_JOINED).where(t.contracts.c.id == contract_id)
        if lock and self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE serialises
            q = q.with_for_update(of=st.subcontracts)
        r = self._c.execute(q).first()
        return None if r is None else _sub(r)

    def get(self, contract_id: str) -> Subcontract | None:
        return self._one(contract_id, lock=False)

    def get_for_update(self, contract_id: str) -> Subcontract | None:
        return self._one(contract_id, lock=True)

    def work_token_hash(self, contract_id: str) -> str | None:
        s = st.subcontracts.c
        found = self._c.execute(select(s.work_token_hash).where(s.contract_id == contract_id))
        return found.scalar()

    def update(self, sub: Subcontract) -> None:
        closed = None if sub.closed_at is None else to_micros(sub.closed_at)
        self._c.execute(
            update(st.subcontracts)
            .where(st.subcontracts.c.contract_id == sub.id)
            .values(
                packets=sub.packets,
                outcome=None if sub.outcome is None else sub.outcome.value,
                detail=sub.detail,
                closed_us=closed,
            )
        )
        self._c.execute(
            update(t.contracts).where(t.contracts.c.id == sub.id).values(**lifecycle(sub.contract))
        )

    def under_parent(
        self, parent_id: str, after: Key | None = None, limit: int | None = None
    ) -> list[Subcontract]:
        c = t.contracts.c
        q = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(c.parent_contract_id == parent_id, *oldest_after(c.created_us, c.id, after))
            .order_by(c.created_us, c.id)
        )
        if limit is not None:
            q = q.limit(limit)
        return [_sub(r) for r in self._c.execute(q)]

    def of_account(self, account_id: str, after: Key | None, limit: int) -> list[Subcontract]:
        c = t.contracts.c
        q = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(
                or_(c.provider_id == account_id, c.recipient_id == account_id),
                *newest_after(c.created_us, c.id, after),
            )
            .order_by(c.created_us.desc(), c.id.desc())
            .limit(limit)
        )
        return [_sub(r) for r in self._c.execute(q)]

    def add_run(self, contract_id: str, run_id: str, packets: int, now: datetime) -> None:
        values = {
            "contract_id": contract_id,
            "run_id": run_id,
            "packets": packets,
            "created_us": to_micros(now),
        }
        execute_unique(
            self._c,
            st.subcontract_runs.insert(),
            values,
            "run_id",
            run_metered(contract_id, run_id),
        )

    def run_packets(self, contract_id: str, run_id: str) -> int | None:
        r = st.subcontract_runs.c
        q = select(r.packets).where(and_(r.contract_id == contract_id, r.run_id == run_id))
        found: int | None = self._c.execute(q).scalar()
        return found

    def check_tallies(self, provider_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        ids = list(set(provider_ids))
        if not ids:
            return {}
        r = t.ratings.c
        positive = func.sum(case((r.satisfied.is_(True), 1), else_=0))
        q = (
            select(r.rated_id, positive, func.count())
            .where(
                and_(r.rated_id.in_(ids), r.rated_role == "provider", r.rater_key == CHECK_RATER)
            )
            .group_by(r.rated_id)
        )
        return {row[0]: (int(row[1]), int(row[2]) - int(row[1])) for row in self._c.execute(q)}


def _key(r: Row[Any]) -> NodeKey:
    revoked = None if r.revoked_us is None else from_micros(r.revoked_us)
    return NodeKey(r.id, r.provider_id, r.name, r.hint, from_micros(r.created_us), revoked)


class SqlNodeKeys:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, key: NodeKey, key_hash: str) -> None:
        self._c.execute(
            st.node_keys.insert().values(
                id=key.id,
                provider_id=key.provider_id,
                name=key.name,
                key_hash=key_hash,
                hint=key.hint,
                created_us=to_micros(key.created_at),
                revoked_us=None,
            )
        )

    def get(self, key_id: str) -> NodeKey | None:
        r = self._c.execute(select(st.node_keys).where(st.node_keys.c.id == key_id)).first()
        return None if r is None else _key(r)

    def by_hash(self, key_hash: str) -> NodeKey | None:
        q = select(st.node_keys).where(st.node_keys.c.key_hash == key_hash)
        r = self._c.execute(q).first()
        return None if r is None else _key(r)

    def of_provider(self, provider_id: str) -> list[NodeKey]:
        k = st.node_keys.c
        q = select(st.node_keys).where(k.provider_id == provider_id)
        return [_key(r) for r in self._c.execute(q.order_by(k.created_us.desc(), k.id.desc()))]

    def revoke(self, key_id: str, now: datetime) -> None:
        k = st.node_keys.c
        self._c.execute(
            update(st.node_keys)
            .where(and_(k.id == key_id, k.revoked_us.is_(None)))
            .values(revoked_us=to_micros(now))
        )
