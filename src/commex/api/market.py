"""The marketplace under ``/v1`` (O4): the watchlist, the notification centre and webhooks.
(Finding auctions is ``GET /v1/auctions``, with the other auction routes.)"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from commex.api import paging
from commex.api.deps import BusDep, CallerDep
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import MarkReadIn, WebhookIn
from commex.api.wire import auctions as auction_wire
from commex.api.wire import market as wire
from commex.services import marketplace as m

router = APIRouter(prefix="/v1")


@router.put("/auctions/{auction_id}/watch", tags=["auctions"])
def watch(auction_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Put the auction on your watchlist (you hear when it closes soon); idempotent."""
    added = bus.handle(m.Watch(who.id, auction_id))
    return {"auction_id": auction_id, "watched": True, "added": added}


@router.delete("/auctions/{auction_id}/watch", tags=["auctions"])
def unwatch(auction_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Take the auction off your watchlist; idempotent."""
    removed = bus.handle(m.Unwatch(who.id, auction_id))
    return {"auction_id": auction_id, "watched": False, "removed": removed}


@router.get("/watchlist", tags=["auctions"])
def watchlist(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The auctions you watch, most recently added first."""
    found = bus.handle(m.MyWatchlist(who.id, limit, paging.decode("watchlist", cursor)))
    rows = [auction_wire.auction_line(s) | {"watched": True} for s in found.items]
    return paging.answer("watchlist", rows, found.next_key)


@router.get("/notifications", tags=["notifications"])
def notifications(
    who: CallerDep,
    bus: BusDep,
    unread: Annotated[bool, Query(description="Only notices not yet read.")] = False,
    type: Annotated[
        list[str] | None, Query(max_length=13, description="Only these event types.")
    ] = None,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Your notification centre, newest first, with how many notices are unread."""
    after = paging.decode("notifications", cursor)
    query = m.MyNotifications(who.id, unread, tuple(type or ()), limit, after)
    found = bus.handle(query)
    rows = [wire.notice(n) for n in found.items]
    return paging.answer("notifications", rows, found.next_key, unread=found.unread)


@router.get("/notifications/unread", tags=["notifications"])
def unread(who: CallerDep, bus: BusDep) -> dict[str, int]:
    """How many of your notices are unread (the badge)."""
    return {"unread": bus.handle(m.UnreadCount(who.id))}


@router.post("/notifications/read", tags=["notifications"])
def mark_read(body: MarkReadIn, who: CallerDep, bus: BusDep) -> dict[str, int]:
    """Mark notices read: ``{"ids": [...]}``, or ``{"all": true}`` for every one."""
    marked = bus.handle(m.MarkRead(who.id, body.chosen()))
    return {"marked": marked, "unread": bus.handle(m.UnreadCount(who.id))}


@router.post("/webhooks", status_code=201, tags=["webhooks"])
def create_webhook(body: WebhookIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Send your events of these types to ``url`` as signed JSON. The answer holds the signing
    secret, shown this once. The URL must reach a public address (unless the operator allows
    private ones)."""
    created = bus.handle(m.CreateWebhook(who.id, body.url, tuple(body.events)))
    return wire.webhook(created.webhook, with_secret=True)


@router.get("/webhooks", tags=["webhooks"])
def webhooks(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """Your webhooks, oldest first (never their secrets)."""
    hooks = bus.handle(m.MyWebhooks(who.id))
    found = paging.page(
        "webhooks", hooks, lambda w: (w.created_at.isoformat(), w.id), limit, cursor
    )
    return paging.answer("webhooks", [wire.webhook(w) for w in found.items], found.next_key)


@router.delete("/webhooks/{webhook_id}", tags=["webhooks"])
def delete_webhook(webhook_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Stop the webhook: nothing more is sent to it; its deliveries stay readable."""
    bus.handle(m.DeleteWebhook(who.id, webhook_id))
    return {"id": webhook_id, "active": False}


@router.get("/webhooks/{webhook_id}/deliveries", tags=["webhooks"])
def deliveries(
    webhook_id: str,
    who: CallerDep,
    bus: BusDep,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The webhook's delivery log, newest first: each event's status, attempts and last
    answer."""
    after = paging.decode("deliveries", cursor)
    found = bus.handle(m.WebhookDeliveries(who.id, webhook_id, limit, after))
    return paging.answer("deliveries", [wire.delivery(d) for d in found.items], found.next_key)


@router.get("/webhooks/{webhook_id}/deliveries/{delivery_id}", tags=["webhooks"])
def delivery(webhook_id: str, delivery_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """One delivery with every attempt it took."""
    log = bus.handle(m.ShowDelivery(who.id, webhook_id, delivery_id))
    return wire.delivery(log.delivery) | {"tries": [wire.attempt(a) for a in log.attempts]}


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", status_code=202, tags=["webhooks"]
)
def retry(webhook_id: str, delivery_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Send the delivery again now (and, if it fails, for a day), however it ended."""
    return wire.delivery(bus.handle(m.RetryDelivery(who.id, webhook_id, delivery_id)))
