"""The HTTP API under ``/v1`` (SPEC section 8). Each route builds one command or query, hands
it to the message bus, and answers the typed result in its wire shape.

Routes are plain functions, which FastAPI runs on its thread pool, except the hot ones: health
touches nothing, and a bid is queued for the bid desk's next group commit and awaited there, so
no thread waits per bid. Bids are served by :mod:`commex.api.fastpath`, ahead of this router;
the route here describes the call in the OpenAPI document and answers the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from commex.api import paging
from commex.api.deps import BusDep, CallerDep, OptionalCallerDep
from commex.api.fastpath import placed_bid_response
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import (
    AccountIn,
    AuctionIn,
    BidIn,
    DeviceIn,
    OfferIn,
    ReasonIn,
)
from commex.api.wire import auctions as wire
from commex.api.wire import parties
from commex.services import commands as c
from commex.services import marketplace as q_
from commex.services import queries as q

router = APIRouter(prefix="/v1")


@router.get("/health", tags=["server"])
async def health() -> dict[str, str]:
    """Liveness: answers without touching the database."""
    return {"status": "ok"}


@router.post("/accounts", status_code=201, tags=["accounts"])
def create_account(
    body: AccountIn, bus: BusDep, opener: OptionalCallerDep, request: Request
) -> dict[str, Any]:
    """Open an account. The token in the answer is shown this once. Opened with a bearer token,
    the new account belongs to the same owner as the caller's. A name taken by another
    account, also one that only looks alike (other case, compatibility forms, confusable
    letters), is refused (409) and leaves nothing behind. Signups are throttled per client
    address (429 with ``Retry-After``)."""
    owner = opener.owner if opener is not None else None
    client = request.client.host if request.client else None
    cmd = c.Register(body.name, tuple(body.roles), body.password, owner_id=owner, client=client)
    return parties.registered(bus.handle(cmd))


@router.get("/accounts/me", tags=["accounts"])
def me(who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The calling account, with its reputation in both roles."""
    return parties.account(bus.handle(q.ShowAccount(who.id)))


@router.get("/accounts/{account_id}", tags=["accounts"])
def get_account(account_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Any account's public face: name, roles and reputation."""
    return parties.account(bus.handle(q.ShowAccount(account_id)))


@router.post("/auctions", status_code=201, tags=["auctions"])
def create_auction(body: AuctionIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Open a forward (sell blocks) or reverse (buy a service) auction."""
    return wire.auction(bus.handle(body.command(who.id)))


Text = Annotated[str | None, Query(max_length=100)]


@router.get("/auctions", tags=["auctions"])
def list_auctions(
    who: CallerDep,
    bus: BusDep,
    service: Text = None,
    direction: Annotated[str | None, Query(description="forward or reverse")] = None,
    format: Annotated[str | None, Query(description="first-price, second-price or english")] = None,
    currency: Text = None,
    min_price: Annotated[str | None, Query(max_length=30, description="a listed price")] = None,
    max_price: Annotated[str | None, Query(max_length=30)] = None,
    min_rate_bps: Annotated[str | None, Query(max_length=20, description="guaranteed")] = None,
    max_rate_bps: Annotated[str | None, Query(max_length=20, description="capped at")] = None,
    window_from: Annotated[str | None, Query(max_length=64, description="ISO 8601")] = None,
    window_to: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(max_length=64, description="the owner's id")] = None,
    status: Annotated[
        str | None, Query(max_length=16, description="open, closed, cancelled")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="words in the title")] = None,
    sort: Annotated[str | None, Query(description="newest, closing, price or -price")] = None,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Find auctions: every filter given must hold. The price filters and orders use the
    listed price (an english auction's standing price, or a reverse auction's ceiling; a
    forward auction's reserve stays secret). Pages follow ``next_cursor``."""
    order = sort or "newest"
    query = q_.FindAuctions(
        service, direction, format, currency, min_price, max_price, min_rate_bps,
        max_rate_bps, window_from, window_to, owner, status, q, sort, limit,
        paging.decode(f"auctions:{order}", cursor), who.id,
    )  # fmt: skip
    found = bus.handle(query)
    rows = [wire.auction_line(s) | {"watched": s.auction.id in found.watched} for s in found.items]
    return paging.answer(f"auctions:{order}", rows, found.next_key)


@router.get("/auctions/{auction_id}", tags=["auctions"])
def get_auction(auction_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The auction as the caller may see it: sealed bids stay private until the close; a
    group's auction shows the group and its payers."""
    return wire.auction(bus.handle(q.ShowAuction(auction_id, who.id)))


@router.post("/auctions/{auction_id}/bids", status_code=201, tags=["auctions"])
async def place_bid(
    auction_id: str,
    body: BidIn,
    who: CallerDep,
    bus: BusDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Bid. With an ``Idempotency-Key`` header (1 to 128 printable characters) a retried
    request returns the first answer."""
    return await placed_bid_response(bus, who, auction_id, body, idempotency_key)


@router.post("/auctions/{auction_id}/close", tags=["auctions"])
def close_auction(
    auction_id: str, who: CallerDep, bus: BusDep, body: ReasonIn | None = None
) -> dict[str, Any]:
    """Close and award: the operator any time (with a reason when early), the owner once the
    close time has passed. Closing twice returns the same outcome."""
    return wire.auction(
        bus.handle(c.CloseAuction(auction_id, who.id, body.reason if body else None))
    )


@router.post("/auctions/{auction_id}/cancel", tags=["auctions"])
def cancel_auction(
    auction_id: str, who: CallerDep, bus: BusDep, body: ReasonIn | None = None
) -> dict[str, Any]:
    """Cancel: the owner while there are no bids, the operator any time with a reason."""
    cmd = c.CancelAuction(auction_id, who.id, body.reason if body else None)
    return wire.auction(bus.handle(cmd))


@router.put("/providers/me/offer", tags=["providers"])
def publish_offer(body: OfferIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Publish (or replace) the caller's processing offer: its node's URL, the steps it
    performs, and its price per 1,000 packets. Other providers' packet planes find it here."""
    cmd = c.PublishOffer(who.id, body.node_url, tuple(body.capabilities), body.price, body.currency)
    return parties.offer(bus.handle(cmd))


@router.get("/providers", tags=["providers"])
def find_providers(
    who: CallerDep,
    bus: BusDep,
    capability: Annotated[str, Query(min_length=1, max_length=32, pattern="^[a-z][a-z0-9-]*$")],
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Providers whose nodes offer ``capability``, best reputation first, then lower price
    (a page follows the ranking as it stands when read)."""
    offers = bus.handle(q.FindProcessors(capability))
    found = paging.page("providers", offers, _rank, limit, cursor)
    return paging.answer("providers", [parties.offer(o) for o in found.items], found.next_key)


def _rank(line: Any) -> tuple[int, int, str]:
    """An offer's place in the ranking: reputation's lower bound (in millionths) down, then
    price up, then the provider."""
    lower = round(line.provider.reputation.lower_bound * 1_000_000)
    return (-lower, line.offer.price.to_minor(), line.offer.provider_id)


@router.post("/devices", status_code=201, tags=["devices"])
def register_device(body: DeviceIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Register a client device of one of the recipient's users; the token in the answer is
    shown this once and can only rate and report usage on contracts the device is a member of."""
    cmd = c.RegisterDevice(who.id, body.name, body.user, tuple(body.phone_numbers))
    return parties.registered_device(bus.handle(cmd))
