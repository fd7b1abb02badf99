"""The audit trail over HTTP (O1): ``GET /v1/audit``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from commex.api.deps import BusDep, CallerDep
from commex.api.wire import audit as wire
from commex.services import queries as q

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit")
def audit_trail(
    who: CallerDep,
    bus: BusDep,
    subject: Annotated[
        str | None, Query(max_length=64, description="an id: auc_..., con_..., acc_...")
    ] = None,
    after: Annotated[int, Query(ge=0, description="the seq of the last entry seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Recorded changes, oldest first: who did what to which object, when, in answer to which
    request (``X-Request-Id``), and why when a reason was given. The operator reads every entry
    (``?subject=ID`` for one object's story); any other account reads the entries that concern
    it. Page with ``after``: the answer's ``next_after``, null on the last page."""
    return wire.page(bus.handle(q.ShowAudit(who.id, subject, after, limit)))
