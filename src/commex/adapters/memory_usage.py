"""In-memory usage sessions, deliveries and capacities (see :mod:`commex.adapters.memory`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.usage import MemberUsage, UsageSession

if TYPE_CHECKING:
    from commex.adapters.memory import MemoryStore


class MemoryUsage:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_session(self, session: UsageSession) -> None:
        self._s.sessions_used[session.id] = session

    def get_session(self, session_id: str) -> UsageSession | None:
        return self._s.sessions_used.get(session_id)

    def update_session(self, session: UsageSession) -> None:
        self._s.sessions_used[session.id] = session

    def open_sessions(self, member_id: str) -> list[UsageSession]:
        found = [s for s in self._s.sessions_used.values() if s.member_id == member_id and s.open]
        return sorted(found, key=lambda s: (s.started_at, s.id))

    def by_member(self, contract_id: str) -> list[MemberUsage]:
        totals: dict[str, MemberUsage] = {}
        for s in self._s.sessions_used.values():
            if s.contract_id != contract_id:
                continue
            was = totals.get(s.member_id, MemberUsage(s.member_id, 0, 0, 0))
            totals[s.member_id] = MemberUsage(
                s.member_id, was.used_ms + s.used_ms, was.bytes + s.bytes, was.sessions + 1
            )
        return [totals[k] for k in sorted(totals)]


class MemoryDeliveries:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, delivery: Delivery) -> None:
        self._s.deliveries[delivery.id] = delivery

    def by_run(self, contract_id: str, run_id: str) -> Delivery | None:
        for d in self._s.deliveries.values():
            if d.contract_id == contract_id and d.run_id == run_id:
                return d
        return None

    def of_contract(self, contract_id: str, limit: int) -> list[Delivery]:
        found = [d for d in self._s.deliveries.values() if d.contract_id == contract_id]
        return sorted(found, key=lambda d: (d.created_at, d.id), reverse=True)[:limit]

    def service_levels(
        self, provider_ids: Iterable[str], since: datetime
    ) -> dict[str, ServiceLevel]:
        wanted = set(provider_ids)
        out: dict[str, ServiceLevel] = {}
        for d in self._s.deliveries.values():
            if d.provider_id in wanted and d.min_rate_bps is not None and d.created_at >= since:
                was = out.get(d.provider_id, ServiceLevel())
                out[d.provider_id] = ServiceLevel(
                    was.measured + 1,
                    was.breaches + int(d.breach),
                    was.measured_ms + d.reported_ms,
                    was.breached_ms + (d.reported_ms if d.breach else 0),
                )
        return out


class MemoryCapacities:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def get(self, provider_id: str) -> int | None:
        return self._s.capacities.get(provider_id)

    def put(self, provider_id: str, capacity_bps: int, now: datetime) -> None:
        self._s.capacities[provider_id] = capacity_bps
