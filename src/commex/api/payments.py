"""The HTTP API of payment methods (B1): a recipient's saved cards.

A card number comes in once, goes to the payment gateway and is never answered back: a card is
shown as its brand, last four digits and expiry. Another account's card is not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import StrictInt, StringConstraints

from commex.api.deps import CallerDep, ServicesDep
from commex.api.schemas import _Body
from commex.domain.payment_methods import PaymentMethod

router = APIRouter(prefix="/v1", tags=["payment methods"])


class CardIn(_Body):
    """A card to save. The number may hold spaces or dashes between digit groups."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    exp_month: StrictInt
    exp_year: StrictInt
    cvc: Annotated[str, StringConstraints(min_length=1, max_length=8)]


def card_dict(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "default": method.is_default,
    }


@router.post("/payment-methods", status_code=201)
def add_card(body: CardIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Save a card of the calling recipient through the payment gateway; only its token, brand,
    last four digits and expiry are kept. The first card becomes the default; at most five."""
    method = services.payments.add(who.id, body.number, body.exp_month, body.exp_year, body.cvc)
    return card_dict(method)


@router.get("/payment-methods")
def list_cards(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's cards, oldest first, with the one it is charged on marked ``default``."""
    return {"items": [card_dict(m) for m in services.payments.of_account(who.id)]}


@router.delete("/payment-methods/{method_id}")
def remove_card(method_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Remove one of the caller's cards; the cards left, with the new default if the default
    was removed."""
    services.payments.remove(who.id, method_id)
    return {"items": [card_dict(m) for m in services.payments.of_account(who.id)]}


@router.post("/payment-methods/{method_id}/default")
def make_default(method_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Charge the caller on this card from now on."""
    return card_dict(services.payments.make_default(who.id, method_id))
