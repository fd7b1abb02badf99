"""In-memory contracts with their members, usage sessions and deliveries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.contracts import Contract, ContractStatus
from commex.domain.members import Member, MemberKind
from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.usage import MemberUsage, UsageSession
from commex.services.ports.contracts import member_taken, run_recorded

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryContracts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, contracts: Sequence[Contract]) -> None:
        for c in contracts:
            self._s.contracts[c.id] = c

    def get(self, contract_id: str) -> Contract | None:
        return self._s.contracts.get(contract_id)

    get_for_update = get  # the unit of work holds the store's lock

    def many_for_update(self, contract_ids: Collection[str]) -> dict[str, Contract]:
        return {i: self._s.contracts[i] for i in sorted(contract_ids) if i in self._s.contracts}

    def update(self, contract: Contract) -> None:
        was = self._s.contracts[contract.id]
        self._s.contracts[contract.id] = replace(
            was,
            status=contract.status,
            started_at=contract.started_at,
            ended_at=contract.ended_at,
            end_reason=contract.end_reason,
            end_note=contract.end_note,
            ended_by=contract.ended_by,
        )

    def end_if_in_force(self, contract: Contract) -> bool:
        if not self._s.contracts[contract.id].in_force:
            return False
        self.update(contract)
        return True

    def due_to_complete(self, now: datetime, limit: int) -> list[Contract]:
        due = [
            c
            for c in self._s.contracts.values()
            if c.in_force
            and not c.is_subcontract  # a subcontract ends by the plane's check
            and c.terms.window_end is not None
            and c.terms.window_end <= now
        ]
        return sorted(due, key=lambda c: (c.terms.window_end or now, c.id))[:limit]

    def set_used(self, contract_id: str, used_ms: int) -> None:
        self._s.contracts[contract_id] = replace(self._s.contracts[contract_id], used_ms=used_ms)

    def of_provider(self, provider_id: str, status: str | None) -> list[Contract]:
        found = [
            c
            for c in self._s.contracts.values()
            if c.provider_id == provider_id
            and not c.is_subcontract
            and (status is None or c.status.value == status)
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)

    def for_auction(self, auction_id: str) -> list[Contract]:
        return sorted(
            (
                c
                for c in self._s.contracts.values()
                if c.auction_id == auction_id and not c.is_subcontract
            ),
            key=lambda c: c.id,
        )

    def for_account(self, account_id: str) -> list[Contract]:
        shared = {
            m.contract_id
            for m in self._s.members.values()
            if m.kind is MemberKind.ACCOUNT and m.ref == account_id and m.removed_at is None
        }
        found = [
            c
            for c in self._s.contracts.values()
            if account_id in (c.provider_id, c.recipient_id) or c.id in shared
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        due = [
            c
            for c in self._s.contracts.values()
            if c.status is ContractStatus.AWARDED
            and c.terms.window_start is not None
            and c.terms.window_start <= now
        ]
        return sorted(due, key=lambda c: (c.terms.window_start or now, c.id))[:limit]

    def add_member(self, member: Member) -> None:
        for m in self._s.members.values():
            if (m.contract_id, m.kind, m.ref) == (member.contract_id, member.kind, member.ref):
                raise member_taken(member)
        self._s.members[member.id] = member

    def member(self, member_id: str) -> Member | None:
        return self._s.members.get(member_id)

    def remove_member(self, member_id: str, now: datetime) -> None:
        self._s.members[member_id] = replace(self._s.members[member_id], removed_at=now)

    def restore_member(self, member_id: str) -> None:
        self._s.members[member_id] = replace(self._s.members[member_id], removed_at=None)

    def members(self, contract_id: str, *, removed: bool = False) -> list[Member]:
        found = [
            m
            for m in self._s.members.values()
            if m.contract_id == contract_id and (removed or m.removed_at is None)
        ]
        return sorted(found, key=lambda m: (m.created_at, m.id))

    def members_of(self, contract_ids: Collection[str]) -> dict[str, list[Member]]:
        return {i: self.members(i, removed=True) for i in contract_ids}

    def add_session(self, session: UsageSession) -> None:
        self._s.usage[session.id] = session

    def add_sessions(self, sessions: Sequence[UsageSession]) -> None:
        for session in sessions:
            self.add_session(session)

    def session(self, session_id: str) -> UsageSession | None:
        return self._s.usage.get(session_id)

    def update_session(self, session: UsageSession) -> None:
        was = self._s.usage[session.id]
        self._s.usage[session.id] = replace(
            was, ended_at=session.ended_at, used_ms=session.used_ms, bytes=session.bytes
        )

    def open_sessions(self, member_id: str) -> list[UsageSession]:
        found = [s for s in self._s.usage.values() if s.member_id == member_id and s.open]
        return sorted(found, key=lambda s: (s.started_at, s.id))

    def sessions(self, contract_id: str, limit: int) -> list[UsageSession]:
        found = [s for s in self._s.usage.values() if s.contract_id == contract_id]
        return sorted(found, key=lambda s: (s.started_at, s.id))[-limit:]

    def usage_by_member(self, contract_id: str) -> list[MemberUsage]:
        totals: dict[str, MemberUsage] = {}
        for s in self._s.usage.values():
            if s.contract_id != contract_id:
                continue
            was = totals.get(s.member_id, MemberUsage(s.member_id, 0, 0, 0))
            totals[s.member_id] = MemberUsage(
                s.member_id, was.used_ms + s.used_ms, was.bytes + s.bytes, was.sessions + 1
            )
        return [totals[k] for k in sorted(totals)]

    def add_delivery(self, delivery: Delivery) -> None:
        if self.delivery_by_run(delivery.contract_id, delivery.run_id) is not None:
            raise run_recorded(delivery)
        self._s.deliveries[delivery.id] = delivery

    def delivery_by_run(self, contract_id: str, run_id: str) -> Delivery | None:
        return next(
            (
                d
                for d in self._s.deliveries.values()
                if d.contract_id == contract_id and d.run_id == run_id
            ),
            None,
        )

    def deliveries(self, contract_id: str, limit: int) -> list[Delivery]:
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
