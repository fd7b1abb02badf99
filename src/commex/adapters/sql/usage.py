"""A contract's usage sessions and the packet plane's deliveries (part of the contract
repository, :class:`commex.adapters.sql.contracts.SqlContracts`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, case, func, select, update

from commex.adapters.sql import tables as t
from commex.adapters.sql.bulk import BulkInsert
from commex.adapters.sql.conflicts import execute_unique
from commex.domain.receiver import ReceiverReport
from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.time import from_micros, to_micros
from commex.domain.usage import MemberUsage, UsageSession
from commex.services.ports.contracts import run_recorded


def _session(r: Row[Any]) -> UsageSession:
    ended = None if r.ended_us is None else from_micros(r.ended_us)
    return UsageSession(
        r.id, r.contract_id, r.member_id, from_micros(r.started_us), ended, r.used_ms, r.bytes
    )


def _delivery(r: Row[Any]) -> Delivery:
    return Delivery(
        r.id,
        r.contract_id,
        r.provider_id,
        r.run_id,
        r.reported_ms,
        r.accepted_ms,
        r.bytes,
        r.packets,
        r.achieved_bps,
        r.min_rate_bps,
        from_micros(r.created_us),
        _receiver(r),
    )


_SESSION_COLUMNS = ("id", "contract_id", "member_id", "started_us", "ended_us", "used_ms", "bytes")
_SESSIONS_INSERT = BulkInsert(t.usage_sessions, _SESSION_COLUMNS)
_SESSION_GET = select(t.usage_sessions).where(t.usage_sessions.c.id == bindparam("id"))
_SESSION_UPDATE = (
    update(t.usage_sessions)
    .where(t.usage_sessions.c.id == bindparam("b_id"))
    .values(ended_us=bindparam("ended"), used_ms=bindparam("used"), bytes=bindparam("volume"))
)


def _receiver(r: Row[Any]) -> ReceiverReport | None:
    if r.rx_streams is None:
        return None
    return ReceiverReport(
        r.rx_streams,
        r.rx_fraction_lost_ppm,
        r.rx_cumulative_lost,
        r.rx_jitter_us,
        r.rx_round_trip_us,
    )


def _receiver_values(rx: ReceiverReport | None) -> dict[str, int | None]:
    return {
        "rx_streams": None if rx is None else rx.streams,
        "rx_fraction_lost_ppm": None if rx is None else rx.fraction_lost_ppm,
        "rx_cumulative_lost": None if rx is None else rx.cumulative_lost,
        "rx_jitter_us": None if rx is None else rx.jitter_us,
        "rx_round_trip_us": None if rx is None else rx.round_trip_us,
    }


class SqlUsage:
    _c: Connection

    def add_session(self, session: UsageSession) -> None:
        self.add_sessions([session])

    def add_sessions(self, sessions: Sequence[UsageSession]) -> None:
        rows = [
            {
                "id": s.id,
                "contract_id": s.contract_id,
                "member_id": s.member_id,
                "started_us": to_micros(s.started_at),
                "ended_us": None if s.ended_at is None else to_micros(s.ended_at),
                "used_ms": s.used_ms,
                "bytes": s.bytes,
            }
            for s in sessions
        ]
        _SESSIONS_INSERT.run(self._c, rows)

    def session(self, session_id: str) -> UsageSession | None:
        r = self._c.execute(_SESSION_GET, {"id": session_id}).first()
        return None if r is None else _session(r)

    def update_session(self, session: UsageSession) -> None:
        ended = None if session.ended_at is None else to_micros(session.ended_at)
        values = {"b_id": session.id, "ended": ended, "used": session.used_ms}
        self._c.execute(_SESSION_UPDATE, values | {"volume": session.bytes})

    def open_sessions(self, member_id: str) -> list[UsageSession]:
        u = t.usage_sessions.c
        q = select(t.usage_sessions).where(and_(u.member_id == member_id, u.ended_us.is_(None)))
        return [_session(r) for r in self._c.execute(q.order_by(u.started_us, u.id))]

    def sessions(self, contract_id: str, limit: int) -> list[UsageSession]:
        u = t.usage_sessions.c
        q = select(t.usage_sessions).where(u.contract_id == contract_id)
        latest = q.order_by(u.started_us.desc(), u.id.desc()).limit(limit)
        return [_session(r) for r in self._c.execute(latest)][::-1]

    def usage_by_member(self, contract_id: str) -> list[MemberUsage]:
        u = t.usage_sessions.c
        q = (
            select(u.member_id, func.sum(u.used_ms), func.sum(u.bytes), func.count())
            .where(u.contract_id == contract_id)
            .group_by(u.member_id)
            .order_by(u.member_id)
        )
        return [MemberUsage(m, int(ms), int(b), int(n)) for m, ms, b, n in self._c.execute(q)]

    def add_delivery(self, delivery: Delivery) -> None:
        d = delivery
        values = {
            "id": d.id,
            "contract_id": d.contract_id,
            "provider_id": d.provider_id,
            "run_id": d.run_id,
            "reported_ms": d.reported_ms,
            "accepted_ms": d.accepted_ms,
            "bytes": d.bytes,
            "packets": d.packets,
            "achieved_bps": d.achieved_rate_bps,
            "min_rate_bps": d.min_rate_bps,
            "breach": d.breach,
            "created_us": to_micros(d.created_at),
            **_receiver_values(d.receiver),
        }
        execute_unique(self._c, t.deliveries.insert(), values, "run_id", run_recorded(d))

    def delivery_by_run(self, contract_id: str, run_id: str) -> Delivery | None:
        d = t.deliveries.c
        q = select(t.deliveries).where(and_(d.contract_id == contract_id, d.run_id == run_id))
        r = self._c.execute(q).first()
        return None if r is None else _delivery(r)

    def deliveries(self, contract_id: str, limit: int) -> list[Delivery]:
        d = t.deliveries.c
        q = (
            select(t.deliveries)
            .where(d.contract_id == contract_id)
            .order_by(d.created_us.desc(), d.id.desc())
            .limit(limit)
        )
        return [_delivery(r) for r in self._c.execute(q)]

    def service_levels(
        self, provider_ids: Iterable[str], since: datetime
    ) -> dict[str, ServiceLevel]:
        ids = list(provider_ids)
        if not ids:
            return {}
        d = t.deliveries.c
        q = (
            select(
                d.provider_id,
                func.count(),
                func.sum(case((d.breach, 1), else_=0)),
                func.sum(d.reported_ms),
                func.sum(case((d.breach, d.reported_ms), else_=0)),
            )
            .where(
                and_(
                    d.provider_id.in_(ids),
                    d.min_rate_bps.is_not(None),
                    d.created_us >= to_micros(since),
                )
            )
            .group_by(d.provider_id)
        )
        return {
            p: ServiceLevel(int(n), int(b or 0), int(ms or 0), int(bms or 0))
            for p, n, b, ms, bms in self._c.execute(q)
        }
