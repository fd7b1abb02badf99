"""Audit entries on the wire."""

from __future__ import annotations

from typing import Any

from commex.domain.audit import AuditEntry
from commex.services.results import AuditPage


def entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor_id,
        "action": e.action,
        "subject": e.subject_id,
        "accounts": list(e.accounts),
        "request_id": e.request_id,
        "reason": e.reason,
        "detail": dict(e.detail),
    }


def page(p: AuditPage) -> dict[str, Any]:
    return {"items": [entry(e) for e in p.entries], "next_after": p.next_after}
