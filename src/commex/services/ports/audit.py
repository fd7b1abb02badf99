"""The audit trail: entries appended in the transaction of the change they record, never
changed or removed (see :mod:`commex.domain.audit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from commex.domain.audit import AuditEntry


class AuditTrail(Protocol):
    def add(self, entries: Sequence[AuditEntry]) -> None:
        """Append entries in the unit of work's transaction (in order; each gets the next
        ``seq``). There is no way to change or remove one: the SQL stores refuse it with a
        trigger as well."""
        ...

    def read(
        self,
        *,
        subject_id: str | None = None,
        account_id: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries oldest first with ``seq`` above ``after``, at most ``limit``: those about
        ``subject_id`` and/or those concerning ``account_id`` (both: entries that match both;
        neither: every entry)."""
        ...
