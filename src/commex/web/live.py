"""Live auction pages: a server-sent event stream that tells an open page when to re-fetch.

The stream carries signals, not data: ``changed`` when the auction's state moved (a bid, a
soft-close extension, the close), ``ended`` once it is no longer open. The page then re-fetches
its panels through the same views as a reload, so what a viewer may see is decided in one place.
A commit in this process wakes the stream at once (:class:`~commex.adapters.events.ChangeHub`).
On PostgreSQL a commit in any server process on the database does too (LISTEN/NOTIFY), and the
stream re-reads only as a safety net, once a minute; on SQLite it re-reads every few seconds, so
bids taken by another server process sharing the file show too. The streams of one auction (or
of the list) share each read (:meth:`~commex.adapters.events.ChangeHub.read`): a bid watched by
a hundred pages costs one read of its auction, not a hundred.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from commex.adapters import metrics
from commex.bootstrap import Services
from commex.domain.auctions import Auction, Status
from commex.domain.time import to_micros
from commex.services.bus import MessageBus
from commex.services.queries import AuctionState, ListAuctions
from commex.services.results import AuctionSummary
from commex.web.render import PageRoute
from commex.web.session import services_of

POLL_S = 2.0
LIST_POLL_S = 5.0
SHARED_RECHECK_S = 60.0  # with LISTEN/NOTIFY: changes wake the stream; this is a safety net
OPEN_LISTED = 100
PING_S = 15
MAX_STREAM_S = 600.0  # then the browser reconnects: no stream outlives a deploy for long

router = APIRouter(route_class=PageRoute)


def state_of(auction: Auction) -> str:
    """What a live page has shown: it changes whenever the page would look different."""
    return (
        f"{auction.status.value}-{auction.bid_count}-{auction.bid_seq}-"
        f"{to_micros(auction.closes_at)}"
    )


def list_state_of(summaries: Sequence[AuctionSummary]) -> str:
    """What the list of open auctions has shown: which are open, their bids and close times."""
    digest = hashlib.sha256()
    for s in summaries:
        digest.update(f"{state_of(s.auction)}-{s.auction.id};".encode())
    return digest.hexdigest()[:16]


def open_auctions(bus: MessageBus) -> list[AuctionSummary]:
    return bus.handle(ListAuctions(Status.OPEN, OPEN_LISTED))


def _every(services: Services, poll_s: float) -> float:
    """How long a stream waits before re-reading unbidden: polling only without a relay."""
    return SHARED_RECHECK_S if services.hub.shared else poll_s


def _response(signals: AsyncIterator[dict[str, Any]]) -> Response:
    return EventSourceResponse(
        _counted(signals),
        ping=PING_S,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _counted(signals: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The stream, counted among the live clients while it is open."""
    metrics.sse_clients(+1)
    try:
        async for signal in signals:
            yield signal
    finally:
        metrics.sse_clients(-1)


@router.get("/events")
async def list_events(
    request: Request, shown: Annotated[str, Query(alias="v", max_length=100)] = ""
) -> Response:
    """Signals for the list of open auctions: ``changed`` when a bid, a close or a new
    auction would change it."""
    services = services_of(request)
    bus = services.bus

    async def signals() -> AsyncIterator[dict[str, Any]]:
        seen = shown
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STREAM_S
        while loop.time() < deadline:
            listed = await services.hub.read("*", lambda: run_in_threadpool(open_auctions, bus))
            state = list_state_of(listed)
            if state != seen:
                seen = state
                yield {"event": "changed", "data": state}
            await services.hub.wait("*", timeout=_every(services, LIST_POLL_S))

    return _response(signals())


@router.get("/auctions/{auction_id}/events")
async def auction_events(
    request: Request,
    auction_id: str,
    shown: Annotated[str, Query(alias="v", max_length=100)] = "",
) -> Response:
    """Signals for an open auction page; ``v`` is the state the page was rendered from, so a
    change between the render and this connection is not missed."""
    services = services_of(request)
    bus = services.bus
    await run_in_threadpool(bus.handle, AuctionState(auction_id))  # 404 before the stream starts

    def read() -> Awaitable[Auction]:  # shared by every stream of this auction (ChangeHub.read)
        return run_in_threadpool(bus.handle, AuctionState(auction_id))

    async def signals() -> AsyncIterator[dict[str, Any]]:
        seen = shown
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STREAM_S
        while loop.time() < deadline:
            auction = await services.hub.read(auction_id, read)
            state = state_of(auction)
            if state != seen:
                seen = state
                yield {"event": "changed", "data": state}
            if auction.status is not Status.OPEN:
                yield {"event": "ended", "data": auction.status.value}
                return
            await services.hub.wait(auction_id, timeout=_every(services, POLL_S))

    return _response(signals())
