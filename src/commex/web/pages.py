"""Auction pages: the list, one auction (with its live panels and the bid form), and the
create-auction form. Each route parses, calls one service, and renders what it returns."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from commex.domain.auctions import Status
from commex.domain.errors import CommexError, NotFound, Unauthenticated, status_of
from commex.domain.reputation import Reputation
from commex.domain.terms import KNOWN_SERVICES
from commex.services.commands import PlaceBid
from commex.services.marketplace import Watching
from commex.services.queries import ListAuctions, ShowAuction
from commex.services.results import AuctionView, WebSession
from commex.web.chart_pages import price_chart
from commex.web.forms import AUCTION_DEFAULTS, UNITS, auction_command, form_values, input_of
from commex.web.live import list_state_of, open_auctions, state_of
from commex.web.render import PageRoute, is_htmx, render
from commex.web.search import SORTS, search
from commex.web.session import Checked, LoggedIn, Viewer, services_of

router = APIRouter(route_class=PageRoute)
Amount = Annotated[str, Form(max_length=40)]
_AMOUNT = re.compile(r"\d{1,15}(\.\d{1,6})?")


@dataclass(frozen=True, slots=True)
class WinnerLine:
    """A winner as the outcome shows it: who, at which price, and the contract."""

    name: str
    reputation: Reputation
    price: str
    contract_id: str
    bidder_id: str
    since: datetime | None = None  # what stands behind the name (see Party)
    payments: int | None = None


@router.get("/")
def home(request: Request, viewer: Viewer) -> Response:
    """The auction list: open auctions closing soonest first, or what the search form asks."""
    bus = services_of(request).bus
    found = search(bus, request.query_params, viewer.account.id if viewer else None)
    context = {
        "search": found,
        "list_state": list_state_of(open_auctions(bus)),
        "closed": [] if found.filtered else bus.handle(ListAuctions(Status.CLOSED, 10)),
        "services": KNOWN_SERVICES,
        "sorts": SORTS,
        "query": str(request.url.query),
    }
    return render(request, "home.html", context, 422 if found.problem else 200)


@router.get("/open-auctions")
def open_list(request: Request, viewer: Viewer) -> Response:
    """The list as searched, fetched again when the list's event stream signals."""
    bus = services_of(request).bus
    found = search(bus, request.query_params, viewer.account.id if viewer else None)
    return render(request, "_open_list.html", {"search": found, "query": str(request.url.query)})


@router.get("/auctions/new")
def new_auction_form(request: Request, session: LoggedIn) -> Response:
    return _auction_form(request, dict(AUCTION_DEFAULTS), {}, "")


@router.post("/auctions/new")
async def create_auction(request: Request, session: Checked) -> Response:
    values = form_values(await request.form())
    bus = services_of(request).bus
    try:
        cmd = auction_command(values, session.account.id, bus.clock.now())
        opened = await run_in_threadpool(bus.handle, cmd)
    except (NotFound, Unauthenticated):
        raise
    except CommexError as exc:
        field = input_of(exc.field)
        errors = {field: exc.message} if field else {}
        return _auction_form(request, values, errors, "" if field else exc.message, exc)
    return RedirectResponse(f"/auctions/{opened.auction.id}", status_code=303)


def _auction_form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str,
    exc: CommexError | None = None,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "problem": problem,
        "services": KNOWN_SERVICES,
        "units": list(UNITS),
    }
    return render(request, "new_auction.html", context, status_of(exc)[0] if exc else 200)


@router.get("/auctions/{auction_id}")
def auction_page(request: Request, auction_id: str, viewer: Viewer) -> Response:
    return render(request, "auction.html", _auction_context(request, auction_id, viewer))


@router.get("/auctions/{auction_id}/live")
def auction_live(request: Request, auction_id: str, viewer: Viewer) -> Response:
    """The part of the page that follows the auction: status, standing, bids, outcome."""
    return render(request, "_live.html", _auction_context(request, auction_id, viewer))


@router.get("/auctions/{auction_id}/bid-area")
def auction_bid_area(request: Request, auction_id: str, viewer: Viewer) -> Response:
    """The bid form (or why there is none), fetched again when the auction ends."""
    return render(request, "_bid_area.html", _auction_context(request, auction_id, viewer))


@router.post("/auctions/{auction_id}/bids")
def place_bid(
    request: Request,
    auction_id: str,
    session: Checked,
    amount: Amount = "",
    max_amount: Amount = "",
    idempotency_key: Annotated[str, Form(alias="idem")] = "",
) -> Response:
    """Bid; the services decide whether the bid stands (and whether this bidder may bid)."""
    bus = services_of(request).bus
    try:
        bid = bus.handle(
            PlaceBid(
                auction_id,
                session.account.id,
                amount.strip(),
                max_amount.strip() or None,
                idempotency_key or None,
            )
        ).bid
    except (NotFound, Unauthenticated):
        raise
    except CommexError as exc:
        context = _auction_context(request, auction_id, session)
        context.update(bid_error=exc.message, amount=amount, max_amount=max_amount)
        page = "_bid_area.html" if is_htmx(request) else "auction.html"
        return render(request, page, context, status_of(exc)[0])
    limit = "" if bid.max_amount is None else str(bid.max_amount)
    if is_htmx(request):
        context = _auction_context(request, auction_id, session)
        context.update(placed=str(bid.amount), limit=limit)
        return render(request, "_bid_area.html", context)
    query = f"placed={bid.amount}" + (f"&limit={limit}" if limit else "")
    return RedirectResponse(f"/auctions/{auction_id}?{query}", status_code=303)


def _auction_context(
    request: Request, auction_id: str, viewer: WebSession | None
) -> dict[str, Any]:
    viewer_id = viewer.account.id if viewer is not None else None
    view = services_of(request).bus.handle(ShowAuction(auction_id, viewer_id))
    placed = request.query_params.get("placed", "")
    limit = request.query_params.get("limit", "")
    watched = viewer is not None and view.auction.id in services_of(request).bus.handle(
        Watching(viewer.account.id, (view.auction.id,))
    )
    return {
        "view": view,
        "auction": view.auction,
        "watched": watched,
        "price_chart": price_chart(view),
        "open": view.auction.status is Status.OPEN,
        "winners": _winners(view),
        "state": state_of(view.auction),
        "idem": secrets.token_urlsafe(16),
        "placed": placed if _AMOUNT.fullmatch(placed) else "",
        "limit": limit if _AMOUNT.fullmatch(limit) else "",
    }


def _winners(view: AuctionView) -> list[WinnerLine]:
    outcome = view.auction.outcome
    if outcome is None:
        return []
    return [
        WinnerLine(
            p.name, p.reputation, str(w.price), w.contract_id, w.bidder_id, p.since, p.payments
        )
        for w, p in zip(outcome.winners, view.winners, strict=True)
    ]
