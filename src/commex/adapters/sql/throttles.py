"""Attempt counters per key, one row each, written with an upsert so concurrent writers of
one key never collide."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from commex.adapters.sql import trust_tables as tt
from commex.domain.throttling import ThrottleState
from commex.domain.time import from_micros, to_micros


class SqlThrottles:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, key: str) -> ThrottleState | None:
        r = self._c.execute(select(tt.throttles).where(tt.throttles.c.key == key)).first()
        if r is None:
            return None
        return ThrottleState(r.failures, from_micros(r.window_us), from_micros(r.blocked_until_us))

    def put(self, key: str, state: ThrottleState) -> None:
        values = {
            "failures": state.failures,
            "window_us": to_micros(state.last_at),
            "blocked_until_us": to_micros(state.blocked_until),
        }
        dialect = postgresql if self._c.dialect.name == "postgresql" else sqlite
        q = dialect.insert(tt.throttles).values(key=key, **values)
        self._c.execute(q.on_conflict_do_update(index_elements=["key"], set_=values))

    def delete(self, key: str) -> None:
        self._c.execute(tt.throttles.delete().where(tt.throttles.c.key == key))
