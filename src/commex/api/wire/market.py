"""The marketplace on the wire: notices, webhooks and their deliveries (auction lines are
:func:`commex.api.wire.auctions.auction_line`)."""

from __future__ import annotations

from typing import Any

from commex.domain.notices import Notice
from commex.domain.webhooks import Attempt, Webhook, WebhookDelivery
from commex.presentation import notice_link, notice_words


def _iso(moment: Any) -> str | None:
    return None if moment is None else str(moment.isoformat())


def notice(n: Notice) -> dict[str, Any]:
    """A notice as the centre lists it: the event (id, type, time, data, as webhooks carry
    it), whether it was read, what it is about, and the same in words."""
    title, detail = notice_words(n.type.value, n.data)
    return {
        "id": n.id,
        "type": n.type.value,
        "created_at": n.created_at.isoformat(),
        "data": dict(n.data),
        "subject_id": n.subject_id,
        "read": n.read,
        "read_at": _iso(n.read_at),
        "title": title,
        "message": detail,
        "link": notice_link(n.type.value, n.subject_id),
    }


def webhook(w: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    """A webhook; its signing secret only in the answer that created it."""
    out: dict[str, Any] = {
        "id": w.id,
        "url": w.url,
        "events": sorted(e.value for e in w.events),
        "created_at": w.created_at.isoformat(),
        "active": w.active,
    }
    if with_secret:
        out["secret"] = w.secret
    return out


def delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "type": d.event_type.value,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": _iso(d.next_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "delivered_at": _iso(d.delivered_at),
    }


def attempt(a: Attempt) -> dict[str, Any]:
    return {
        "number": a.number,
        "at": a.at.isoformat(),
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
    }
