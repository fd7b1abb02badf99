"""The HTTP API under ``/v1`` (SPEC section 8). Each route parses, calls one service, answers.

Routes are plain functions: FastAPI runs them on its thread pool, where concurrent bids meet
in the bid desk's group commit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from commex.api.deps import CallerDep, OptionalCallerDep, ServicesDep
from commex.api.schemas import (
    AccountIn,
    AuctionIn,
    BidIn,
    DeviceIn,
    OfferIn,
    ReasonIn,
)
from commex.domain.accounts import Role
from commex.domain.auctions import Status

router = APIRouter(prefix="/v1")


@router.get("/health", tags=["server"])
def health() -> dict[str, str]:
    """Liveness: answers without touching the database."""
    return {"status": "ok"}


@router.post("/accounts", status_code=201, tags=["accounts"])
def create_account(
    body: AccountIn, services: ServicesDep, opener: OptionalCallerDep
) -> dict[str, Any]:
    """Open an account. The token in the answer is shown this once. Opened with a bearer token,
    the new account belongs to the same owner as the caller's."""
    owner = opener.owner if opener is not None else None
    reg = services.auth.register(body.name, body.roles, body.password, owner=owner)
    return {
        "id": reg.account.id,
        "name": reg.account.name,
        "roles": sorted(reg.account.roles),
        "owner_id": reg.account.owner,
        "token": reg.token,
    }


@router.get("/accounts/me", tags=["accounts"])
def me(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The calling account, with its reputation in both roles."""
    return _account(services, who.id)


@router.get("/accounts/{account_id}", tags=["accounts"])
def get_account(account_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Any account's public face: name, roles and reputation."""
    return _account(services, account_id)


def _account(services: Any, account_id: str) -> dict[str, Any]:
    ex = services.exchange
    account = ex.account(account_id)
    return {
        "id": account.id,
        "name": account.name,
        "roles": sorted(account.roles),
        "reputation": {
            "as_provider": ex.reputation(account.id, Role.PROVIDER).to_dict(),
            "as_recipient": ex.reputation(account.id, Role.RECIPIENT).to_dict(),
        },
    }


@router.post("/auctions", status_code=201, tags=["auctions"])
def create_auction(body: AuctionIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Open a forward (sell blocks) or reverse (buy a service) auction."""
    auction = services.exchange.create_auction(who.id, body.model_dump(exclude_none=True))
    return services.exchange.view(auction.id, who.id).to_dict()


@router.get("/auctions", tags=["auctions"])
def list_auctions(
    who: CallerDep,
    services: ServicesDep,
    status: Annotated[Status | None, Query(description="open, closed or cancelled")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Auctions, newest first, each with its owner's reputation."""
    items = []
    for s in services.exchange.auctions(status, limit, offset):
        a = s.auction
        items.append(
            {
                "id": a.id,
                "title": a.title,
                "owner": {
                    "id": a.owner_id,
                    "name": s.owner_name,
                    "reputation": s.owner_reputation.to_dict()
                    | {"role": a.owner_role.value, "summary": s.owner_reputation.describe()},
                },
                "direction": a.direction.value,
                "format": a.format.value,
                "status": a.status.value,
                "closes_at": a.closes_at.isoformat(),
                "terms": a.terms.to_dict(),
                "currency": a.currency,
                "quantity": a.quantity,
                "bid_count": a.bid_count,
            }
        )
    return {"items": items}


@router.get("/auctions/{auction_id}", tags=["auctions"])
def get_auction(auction_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The auction as the caller may see it: sealed bids stay private until the close; a
    group's auction shows the group and its payers."""
    return services.groups.with_group(services.exchange.view(auction_id, who.id)).to_dict()


@router.post("/auctions/{auction_id}/bids", status_code=201, tags=["auctions"])
def place_bid(
    auction_id: str,
    body: BidIn,
    who: CallerDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Bid. With an ``Idempotency-Key`` header a retried request returns the first answer."""
    ex = services.exchange
    bid = ex.place_bid(auction_id, who.id, body.amount, body.max_amount, idempotency_key)
    return JSONResponse(ex.placed_bid_view(bid).to_dict(), status_code=201)


@router.post("/auctions/{auction_id}/close", tags=["auctions"])
def close_auction(
    auction_id: str, who: CallerDep, services: ServicesDep, body: ReasonIn | None = None
) -> dict[str, Any]:
    """Close and award: the operator any time (with a reason when early), the owner once the
    close time has passed. Closing twice returns the same outcome."""
    services.exchange.close(auction_id, who.id, body.reason if body else None)
    return services.exchange.view(auction_id, who.id).to_dict()


@router.post("/auctions/{auction_id}/cancel", tags=["auctions"])
def cancel_auction(
    auction_id: str, who: CallerDep, services: ServicesDep, body: ReasonIn | None = None
) -> dict[str, Any]:
    """Cancel: the owner while there are no bids, the operator any time with a reason."""
    services.exchange.cancel(auction_id, who.id, body.reason if body else None)
    return services.exchange.view(auction_id, who.id).to_dict()


def _offer(offer: Any, provider: Any) -> dict[str, Any]:
    return {
        "provider": provider.to_dict(),
        "node_url": offer.node_url,
        "capabilities": sorted(offer.capabilities),
        "price": str(offer.price),
        "currency": offer.price.currency,
        "updated_at": offer.updated_at.isoformat(),
    }


@router.put("/providers/me/offer", tags=["providers"])
def publish_offer(body: OfferIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Publish (or replace) the caller's processing offer: its node's URL, the steps it
    performs, and its price per 1,000 packets. Other providers' packet planes find it here."""
    ex = services.exchange
    offer = ex.publish_offer(who.id, body.node_url, body.capabilities, body.price, body.currency)
    return _offer(offer, ex.party(who.id, Role.PROVIDER))


@router.get("/providers", tags=["providers"])
def find_providers(
    who: CallerDep,
    services: ServicesDep,
    capability: Annotated[str, Query(min_length=1, max_length=32, pattern="^[a-z][a-z0-9-]*$")],
) -> dict[str, Any]:
    """Providers whose nodes offer ``capability``, best reputation first, then lower price."""
    return {"items": [_offer(o, p) for o, p in services.exchange.processors(capability)]}


@router.post("/devices", status_code=201, tags=["devices"])
def register_device(body: DeviceIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Register a client device of one of the recipient's users; the token in the answer is
    shown this once and can only rate and report usage on contracts the device is a member of."""
    reg = services.ratings.register_device(who.id, body.name, body.user, body.phone_numbers)
    d = reg.device
    return {
        "id": d.id,
        "name": d.name,
        "user": d.user,
        "phone_numbers": list(d.phone_numbers),
        "token": reg.token,
    }
