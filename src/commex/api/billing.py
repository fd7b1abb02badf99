"""The HTTP API of charges (B2): a contract's charges, the caller's, and asking for an attempt
now. Charges never carry card data; the gateway holds it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from commex.api import paging
from commex.api.deps import BusDep, CallerDep
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.wire import billing as wire
from commex.domain.time import to_micros
from commex.services import commands as c
from commex.services import queries as q

router = APIRouter(prefix="/v1", tags=["charges"])


@router.get("/contracts/{contract_id}/charges")
def contract_charges(contract_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A contract's charges (one per payer) and the provider's payouts, to the contract's
    parties and members; for a group's contract also every member it is provided to."""
    return wire.contract_charges(bus.handle(q.ShowContractCharges(contract_id, who.id)))


@router.post("/contracts/{contract_id}/charges/retry")
def retry(
    contract_id: str,
    who: CallerDep,
    bus: BusDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The payer asks for an attempt on its pending charge now ("pay now"). One is made only
    when it could end differently from the last: on a default card other than the one last
    tried, or after a gateway error. Otherwise 409, counting nothing and naming the next
    scheduled try ("save a card first" when there is none). With an ``Idempotency-Key`` (1 to
    128 printable characters), a repeated request makes no second attempt, even when the
    copies arrive together."""
    charges = bus.handle(c.RetryCharges(contract_id, who.id, idempotency_key))
    return {"items": [wire.charge(x) for x in charges]}


@router.get("/charges")
def my_charges(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The caller's charges as a payer, newest first."""
    mine = bus.handle(q.MyCharges(who.id))
    key = lambda x: (to_micros(x.created_at), x.id)  # noqa: E731
    found = paging.page("charges", mine, key, limit, cursor, descending=True)
    return paging.answer("charges", [wire.charge(x) for x in found.items], found.next_key)
