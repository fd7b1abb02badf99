"""The in-memory audit trail: entries by ``seq``, appended and never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from commex.domain.audit import AuditEntry

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryAudit:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, entries: Sequence[AuditEntry]) -> None:
        for e in entries:
            seq = len(self._s.audit) + 1  # none is ever removed (a rollback drops the newest)
            self._s.audit[seq] = replace(e, seq=seq)

    def read(
        self,
        *,
        subject_id: str | None = None,
        account_id: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        found = [
            e
            for seq, e in sorted(self._s.audit.items())
            if seq > after
            and (subject_id is None or e.subject_id == subject_id)
            and (account_id is None or account_id in e.accounts)
        ]
        return found[:limit]
