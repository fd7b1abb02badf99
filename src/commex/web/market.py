"""The marketplace's pages: the star that follows an auction, the watchlist, the notification
centre with its live badge, an account's public page with its reputation charts, "pay now" on
a contract, and the names a recipient may share a contract with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from commex.adapters.events import ACCOUNT
from commex.domain.accounts import Account
from commex.domain.charges import ChargeStatus
from commex.domain.errors import CommexError, NotFound, Unauthenticated
from commex.presentation import notice_link, notice_words
from commex.services import commands as c
from commex.services import marketplace as m
from commex.services import queries as q
from commex.services.directory import RecipientsNamed
from commex.web import paging
from commex.web.chart_pages import reputation_charts
from commex.web.contracts import page as contract_page
from commex.web.render import PageRoute, is_htmx, render, safe_next
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Small = Annotated[str, Form(max_length=200)]
BADGE_POLL_S = 5.0
MAX_STREAM_S = 600.0


@router.post("/auctions/{auction_id}/watch")
def toggle_watch(
    request: Request, auction_id: str, session: Checked, watch: Small = "1", back: Small = ""
) -> Response:
    """Star or unstar an auction: the star itself again (HTMX), or back to the page."""
    bus = services_of(request).bus
    me = session.account.id
    if watch == "1":
        bus.handle(m.Watch(me, auction_id))
    else:
        bus.handle(m.Unwatch(me, auction_id))
    if is_htmx(request):
        context = {"auction_id": auction_id, "watched": watch == "1", "back": back}
        return render(request, "_star.html", context)
    return RedirectResponse(safe_next(back or f"/auctions/{auction_id}"), status_code=303)


@router.get("/watchlist")
def watchlist(
    request: Request, session: LoggedIn, cursor: Annotated[str | None, Query(max_length=600)] = None
) -> Response:
    bus = services_of(request).bus
    found = bus.handle(m.MyWatchlist(session.account.id, 50, paging.key("watchlist", cursor)))
    more = paging.link("/watchlist", {}, "watchlist", found.next_key)
    return render(request, "watchlist.html", {"page": found, "more": more})


def _notice_lines(page: m.NoticePage) -> list[dict[str, Any]]:
    lines = []
    for n in page.items:
        title, detail = notice_words(n.type.value, n.data)
        link = notice_link(n.type.value, n.subject_id)
        lines.append({"notice": n, "title": title, "detail": detail, "link": link})
    return lines


@router.get("/notifications")
def notifications_page(
    request: Request,
    session: LoggedIn,
    unread: Annotated[str, Query(max_length=4)] = "",
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    bus = services_of(request).bus
    query = m.MyNotifications(
        session.account.id, unread == "1", (), 50, paging.key("notifications", cursor)
    )
    found = bus.handle(query)
    params = {"unread": "1"} if unread == "1" else {}
    more = paging.link("/notifications", params, "notifications", found.next_key)
    context = {"page": found, "lines": _notice_lines(found), "more": more, "unread_only": unread}
    return render(request, "notifications.html", context)


@router.post("/notifications/read")
def mark_read(request: Request, session: Checked, id: Small = "") -> Response:
    """Mark one notice read (``id``), or all of them (no id)."""
    ids = (id,) if id else None
    services_of(request).bus.handle(m.MarkRead(session.account.id, ids))
    return RedirectResponse("/notifications", status_code=303)


@router.get("/notifications/events")
async def badge_events(request: Request, session: LoggedIn) -> Response:
    """The unread count, sent again whenever it changes (``unread`` events): notices committed
    in this process wake the stream at once, others' are seen within a few seconds."""
    services = services_of(request)
    me = session.account.id

    async def counts() -> AsyncIterator[dict[str, Any]]:
        shown = -1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STREAM_S
        while loop.time() < deadline:
            count = await run_in_threadpool(services.bus.handle, m.UnreadCount(me))
            if count != shown:
                shown = count
                yield {"event": "unread", "data": str(count)}
            await services.hub.wait(ACCOUNT + me, timeout=BADGE_POLL_S)

    return EventSourceResponse(
        counts(), ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@router.get("/accounts/{account_id}")
def account_view(request: Request, account_id: str, session: LoggedIn) -> Response:
    """An account as everyone may see it: its reputation in both roles, month by month."""
    bus = services_of(request).bus
    view = bus.handle(q.ShowAccount(account_id))
    context = {"account": view.account, "view": view, "charts": reputation_charts(bus, view)}
    return render(request, "party.html", context)


@router.post("/contracts/{contract_id}/pay-now")
def pay_now(request: Request, contract_id: str, session: Checked, idem: Small = "") -> Response:
    """The payer asks for an attempt now; the contract's page says how it went."""
    bus = services_of(request).bus
    try:
        charges = bus.handle(c.RetryCharges(contract_id, session.account.id, idem or None))
    except (Unauthenticated, NotFound):
        raise
    except CommexError as exc:
        return _contract_with(request, contract_id, session.account, exc.message)
    done = "paid" if all(x.status is ChargeStatus.SUCCEEDED for x in charges) else "tried"
    return RedirectResponse(f"/contracts/{contract_id}?done={done}#charges", status_code=303)


def _contract_with(request: Request, contract_id: str, viewer: Account, problem: str) -> Response:
    return contract_page(request, contract_id, viewer, {"pay_problem": problem}, 409)


@router.get("/contracts/{contract_id}/recipients")
def recipient_names(
    request: Request,
    contract_id: str,
    session: LoggedIn,
    account_name: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    """The recipient accounts whose name holds what was typed, as the options of the
    add-member form's list (fetched as the recipient types)."""
    bus = services_of(request).bus
    bus.handle(q.PartyContract(contract_id, session.account.id))  # parties only, else 404
    found = bus.handle(RecipientsNamed(account_name, 20)) if account_name.strip() else []
    return render(request, "_recipient_options.html", {"found": found})
