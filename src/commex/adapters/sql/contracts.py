"""Contracts with the members that share them; their usage and deliveries are in
:mod:`commex.adapters.sql.usage`."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, select, update

from commex.adapters.sql import tables as t
from commex.adapters.sql.conflicts import execute_unique
from commex.adapters.sql.rows import terms_json
from commex.adapters.sql.usage import SqlUsage
from commex.domain.contracts import IN_FORCE, Contract, ContractKind, ContractStatus, EndReason
from commex.domain.members import Member, MemberKind
from commex.domain.money import Money
from commex.domain.terms import parse_terms
from commex.domain.time import from_micros, to_micros
from commex.services.ports.contracts import member_taken


def _contract(r: Row[Any]) -> Contract:
    return Contract(
        id=r.id,
        auction_id=r.auction_id,
        bid_id=r.bid_id,
        provider_id=r.provider_id,
        recipient_id=r.recipient_id,
        price=Money.from_minor(r.price_minor, r.currency),
        terms=parse_terms(json.loads(r.terms)),
        status=ContractStatus(r.status),
        created_at=from_micros(r.created_us),
        started_at=None if r.started_us is None else from_micros(r.started_us),
        used_ms=r.used_ms,
        ended_at=None if r.ended_us is None else from_micros(r.ended_us),
        end_reason=None if r.end_reason is None else EndReason(r.end_reason),
        end_note=r.end_note,
        ended_by=r.ended_by,
        kind=ContractKind(r.kind),
        parent_contract_id=r.parent_contract_id,
    )


def lifecycle(c: Contract) -> dict[str, Any]:
    """The columns a contract's lifecycle changes."""
    return {
        "status": c.status.value,
        "started_us": None if c.started_at is None else to_micros(c.started_at),
        "ended_us": None if c.ended_at is None else to_micros(c.ended_at),
        "end_reason": None if c.end_reason is None else c.end_reason.value,
        "end_note": c.end_note,
        "ended_by": c.ended_by,
    }


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


_IN_FORCE = sorted(s.value for s in IN_FORCE)


def _member(r: Row[Any]) -> Member:
    removed = None if r.removed_us is None else from_micros(r.removed_us)
    return Member(
        r.id, r.contract_id, MemberKind(r.kind), r.ref, from_micros(r.created_us), removed
    )


# Prebuilt statements for the metering path (a usage report runs each once): building a
# select per call costs more than executing it.
_CONTRACT_GET = select(t.contracts).where(t.contracts.c.id == bindparam("id"))
_CONTRACT_LOCK = _CONTRACT_GET.with_for_update()
_CONTRACTS_GET = (
    select(t.contracts)
    .where(t.contracts.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.contracts.c.id)
)
_CONTRACTS_LOCK = _CONTRACTS_GET.with_for_update()  # sorted before locking: in id order
_SET_USED = (
    update(t.contracts)
    .where(t.contracts.c.id == bindparam("b_id"))
    .values(used_ms=bindparam("used"))
)
_MEMBER_GET = select(t.contract_members).where(t.contract_members.c.id == bindparam("id"))
_MEMBERS_ALL = (
    select(t.contract_members)
    .where(t.contract_members.c.contract_id == bindparam("contract_id"))
    .order_by(t.contract_members.c.created_us, t.contract_members.c.id)
)
_MEMBERS_CURRENT = _MEMBERS_ALL.where(t.contract_members.c.removed_us.is_(None))
_MEMBERS_OF = (
    select(t.contract_members)
    .where(t.contract_members.c.contract_id.in_(bindparam("ids", expanding=True)))
    .order_by(t.contract_members.c.created_us, t.contract_members.c.id)
)


class SqlContracts(SqlUsage):
    """Contracts, their members (here) and their usage and deliveries (:class:`SqlUsage`)."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_many(self, contracts: Sequence[Contract]) -> None:
        if not contracts:
            return
        self._c.execute(
            t.contracts.insert(),
            [
                {
                    "id": c.id,
                    "auction_id": c.auction_id,
                    "bid_id": c.bid_id,
                    "provider_id": c.provider_id,
                    "recipient_id": c.recipient_id,
                    "price_minor": c.price.to_minor(),
                    "currency": c.price.currency,
                    "terms": terms_json(c.terms),
                    "created_us": to_micros(c.created_at),
                    "window_start_us": _micros(c.terms.window_start),
                    "window_end_us": _micros(c.terms.window_end),
                    "kind": c.kind.value,
                    "parent_contract_id": c.parent_contract_id,
                    **lifecycle(c),
                }
                for c in contracts
            ],
        )

    def update(self, contract: Contract) -> None:
        q = update(t.contracts).where(t.contracts.c.id == contract.id)
        self._c.execute(q.values(**lifecycle(contract)))

    def end_if_in_force(self, contract: Contract) -> bool:
        c = t.contracts.c
        q = update(t.contracts).where(and_(c.id == contract.id, c.status.in_(_IN_FORCE)))
        return self._c.execute(q.values(**lifecycle(contract))).rowcount == 1

    def due_to_complete(self, now: datetime, limit: int) -> list[Contract]:
        c = t.contracts.c
        q = (
            select(t.contracts)
            .where(
                and_(
                    c.status.in_(_IN_FORCE),
                    c.window_end_us <= to_micros(now),
                    c.kind == "auction",  # a subcontract ends by the plane's check
                )
            )
            .order_by(c.window_end_us, c.id)
            .limit(limit)
        )
        return [_contract(r) for r in self._c.execute(q)]

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        c = t.contracts.c
        q = (
            select(t.contracts)
            .where(and_(c.status == "awarded", c.window_start_us <= to_micros(now)))
            .order_by(c.window_start_us, c.id)
            .limit(limit)
        )
        return [_contract(r) for r in self._c.execute(q)]

    def get(self, contract_id: str) -> Contract | None:
        r = self._c.execute(_CONTRACT_GET, {"id": contract_id}).first()
        return None if r is None else _contract(r)

    def get_for_update(self, contract_id: str) -> Contract | None:
        # SQLite's BEGIN IMMEDIATE already serialises writers.
        q = _CONTRACT_GET if self._c.dialect.name == "sqlite" else _CONTRACT_LOCK
        r = self._c.execute(q, {"id": contract_id}).first()
        return None if r is None else _contract(r)

    def many_for_update(self, contract_ids: Collection[str]) -> dict[str, Contract]:
        if not contract_ids:
            return {}
        if len(contract_ids) == 1:  # most batches: no IN list to expand (a tenth of the cost)
            (only,) = contract_ids
            found = self.get_for_update(only)
            return {} if found is None else {only: found}
        # SQLite's BEGIN IMMEDIATE already serialises writers.
        q = _CONTRACTS_GET if self._c.dialect.name == "sqlite" else _CONTRACTS_LOCK
        return {r.id: _contract(r) for r in self._c.execute(q, {"ids": sorted(contract_ids)})}

    def set_used(self, contract_id: str, used_ms: int) -> None:
        self._c.execute(_SET_USED, {"b_id": contract_id, "used": used_ms})

    def of_provider(self, provider_id: str, status: str | None) -> list[Contract]:
        c = t.contracts.c
        q = select(t.contracts).where(and_(c.provider_id == provider_id, c.kind == "auction"))
        if status is not None:
            q = q.where(c.status == status)
        q = q.order_by(c.created_us.desc(), c.id.desc())
        return [_contract(r) for r in self._c.execute(q)]

    def for_auction(self, auction_id: str) -> list[Contract]:
        c = t.contracts.c
        q = select(t.contracts).where(and_(c.auction_id == auction_id, c.kind == "auction"))
        return [_contract(r) for r in self._c.execute(q.order_by(t.contracts.c.id))]

    def for_account(self, account_id: str) -> list[Contract]:
        c, m = t.contracts.c, t.contract_members.c
        shared = select(m.contract_id).where(
            and_(m.kind == "account", m.ref == account_id, m.removed_us.is_(None))
        )
        q = select(t.contracts).where(
            (c.provider_id == account_id) | (c.recipient_id == account_id) | c.id.in_(shared)
        )
        return [_contract(r) for r in self._c.execute(q.order_by(c.created_us.desc(), c.id.desc()))]

    def add_member(self, member: Member) -> None:
        values = {
            "id": member.id,
            "contract_id": member.contract_id,
            "kind": member.kind.value,
            "ref": member.ref,
            "created_us": to_micros(member.created_at),
        }
        execute_unique(self._c, t.contract_members.insert(), values, "ref", member_taken(member))

    def member(self, member_id: str) -> Member | None:
        r = self._c.execute(_MEMBER_GET, {"id": member_id}).first()
        return None if r is None else _member(r)

    def remove_member(self, member_id: str, now: datetime) -> None:
        m = t.contract_members.c
        self._c.execute(
            update(t.contract_members).where(m.id == member_id).values(removed_us=to_micros(now))
        )

    def restore_member(self, member_id: str) -> None:
        m = t.contract_members.c
        self._c.execute(update(t.contract_members).where(m.id == member_id).values(removed_us=None))

    def members(self, contract_id: str, *, removed: bool = False) -> list[Member]:
        q = _MEMBERS_ALL if removed else _MEMBERS_CURRENT
        return [_member(r) for r in self._c.execute(q, {"contract_id": contract_id})]

    def members_of(self, contract_ids: Collection[str]) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {i: [] for i in contract_ids}
        if len(found) == 1:  # no IN list to expand
            (only,) = found
            found[only] = self.members(only, removed=True)
        elif found:
            for r in self._c.execute(_MEMBERS_OF, {"ids": sorted(found)}):
                found[r.contract_id].append(_member(r))
        return found
