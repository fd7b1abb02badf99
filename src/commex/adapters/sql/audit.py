"""The audit trail in SQL: ``audit_log`` and the accounts each entry concerns besides its actor.

Entries are inserted in one statement however many a transaction appends (a batch of bids
appends one each, and a bid concerns only its bidder, so nothing else is written for it); the
accounts of entries that concern others take a second. Nothing here updates or deletes, and
the migration's triggers refuse both on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Row, exists, or_, select

from commex.adapters.sql import audit_tables
from commex.adapters.sql.bulk import BulkInsert
from commex.domain.audit import AuditEntry
from commex.domain.time import from_micros, to_micros

_LOG = audit_tables.audit_log
_ACC = audit_tables.audit_accounts
_INSERT = BulkInsert(
    _LOG,
    ("at_us", "actor_id", "actor_concerned", "action", "subject_id", "request_id", "reason",
     "detail"),
)  # fmt: skip
_DETAIL = json.JSONEncoder(sort_keys=True)  # json.dumps(..., sort_keys=True), made once
_INSERT_SEQS = _LOG.insert().returning(_LOG.c.seq, sort_by_parameter_order=True)


def _others(e: AuditEntry) -> tuple[bool, tuple[str, ...]]:
    """Whether the actor is among the accounts concerned (always first when it is), and the
    others."""
    if e.accounts and e.accounts[0] == e.actor_id:
        return True, e.accounts[1:]
    return False, e.accounts


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        split = [_others(e) for e in entries]
        rows = [
            {
                "at_us": to_micros(e.at),
                "actor_id": e.actor_id,
                "actor_concerned": concerned,
                "action": e.action,
                "subject_id": e.subject_id,
                "request_id": e.request_id,
                "reason": e.reason,
                "detail": _DETAIL.encode(dict(e.detail)) if e.detail else None,
            }
            for e, (concerned, _) in zip(entries, split, strict=True)
        ]
        if not any(others for _, others in split):
            _INSERT.run(self._c, rows)
            return
        seqs = self._c.execute(_INSERT_SEQS, rows).scalars().all()
        links = [
            {"account_id": a, "seq": seq, "position": i}
            for (_, others), seq in zip(split, seqs, strict=True)
            for i, a in enumerate(others)
        ]
        self._c.execute(_ACC.insert(), links)

    def read(
        self,
        *,
        subject_id: str | None = None,
        account_id: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        q = select(_LOG).where(_LOG.c.seq > after).order_by(_LOG.c.seq).limit(limit)
        if subject_id is not None:
            q = q.where(_LOG.c.subject_id == subject_id)
        if account_id is not None:
            linked = exists().where(_ACC.c.seq == _LOG.c.seq, _ACC.c.account_id == account_id)
            own = (_LOG.c.actor_id == account_id) & _LOG.c.actor_concerned
            q = q.where(or_(own, linked))
        found = self._c.execute(q).all()
        others: dict[int, list[tuple[int, str]]] = {}
        if found:
            links = select(_ACC.c.seq, _ACC.c.position, _ACC.c.account_id).where(
                _ACC.c.seq.in_([r.seq for r in found])
            )
            for seq, position, account in self._c.execute(links):
                others.setdefault(seq, []).append((position, account))
        return [_entry(r, [a for _, a in sorted(others.get(r.seq, []))]) for r in found]


def _entry(row: Row[Any], others: list[str]) -> AuditEntry:
    detail = json.loads(row.detail) if row.detail else {}
    first = (row.actor_id,) if row.actor_concerned else ()
    return AuditEntry(
        at=from_micros(row.at_us),
        actor_id=row.actor_id,
        action=row.action,
        subject_id=row.subject_id,
        accounts=(*first, *others),
        request_id=row.request_id,
        reason=row.reason,
        detail=MappingProxyType(detail),
        seq=row.seq,
    )
