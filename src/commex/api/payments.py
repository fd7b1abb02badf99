"""The HTTP API of payment methods (B1): a recipient's saved cards.

A card number comes in once, goes to the payment gateway and is never answered back: a card is
shown as its brand, last four digits and expiry. Another account's card is not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import StrictInt, StringConstraints

from commex.api import paging
from commex.api.deps import BusDep, CallerDep
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import _Body
from commex.api.wire import billing as wire
from commex.domain.time import to_micros
from commex.services import commands as c
from commex.services import queries as q

router = APIRouter(prefix="/v1", tags=["payment methods"])


class CardIn(_Body):
    """A card to save. The number may hold spaces or dashes between digit groups."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    exp_month: StrictInt
    exp_year: StrictInt
    cvc: Annotated[str, StringConstraints(min_length=1, max_length=8)]


@router.post("/payment-methods", status_code=201)
def add_card(body: CardIn, who: CallerDep, bus: BusDep, request: Request) -> dict[str, Any]:
    """Save a card of the calling recipient through the payment gateway; only its token, brand,
    last four digits and expiry are kept. The first card becomes the default; at most five."""
    client = request.client.host if request.client else None
    cmd = c.AddCard(who.id, body.number, body.exp_month, body.exp_year, body.cvc, client)
    return wire.card(bus.handle(cmd))


@router.get("/payment-methods")
def list_cards(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The caller's cards, oldest first, with the one it is charged on marked ``default``."""
    key = lambda m: (to_micros(m.created_at), m.id)  # noqa: E731
    found = paging.page("cards", bus.handle(q.ListCards(who.id)), key, limit, cursor)
    return paging.answer("cards", [wire.card(m) for m in found.items], found.next_key)


@router.delete("/payment-methods/{method_id}")
def remove_card(method_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Remove one of the caller's cards; the cards left, with the new default if the default
    was removed."""
    removed = bus.handle(c.RemoveCard(who.id, method_id))
    return {"items": [wire.card(m) for m in removed.cards]}


@router.post("/payment-methods/{method_id}/default")
def make_default(method_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Charge the caller on this card from now on."""
    return wire.card(bus.handle(c.MakeDefaultCard(who.id, method_id)))
