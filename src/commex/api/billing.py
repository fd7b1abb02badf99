"""The HTTP API of charges (B2): a contract's charges, the caller's, and asking for an attempt
now. Charges never carry card data; the gateway holds it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from commex.api.deps import CallerDep, ServicesDep
from commex.bootstrap import Services
from commex.services.billing import ContractCharges, charge_dict, payout_dict

router = APIRouter(prefix="/v1", tags=["charges"])


def contract_charges_dict(found: ContractCharges, services: Services) -> dict[str, Any]:
    """A contract's charges and payouts; for a group's contract also every member it is
    provided to, paying (with its share and charge) or sponsored, and by whom (G3)."""
    out: dict[str, Any] = {
        "contract_id": found.contract.id,
        "group_id": found.group_id,
        "price": str(found.contract.price),
        "currency": found.contract.price.currency,
        "charges": [charge_dict(c) for c in found.charges],
        "payouts": [payout_dict(p) for p in found.payouts],
    }
    if found.group_id is not None:
        group, lines = services.groups.provided_to(found.group_id)
        by_payer = {c.payer_id: c for c in found.charges}
        members = []
        for line in lines:
            charge = by_payer.get(line.member.account_id)
            members.append(
                line.to_dict()
                | {
                    "share": None if charge is None else str(charge.amount),
                    "charge_status": None if charge is None else charge.status.value,
                }
            )
        out["group"] = {"id": group.id, "name": group.name, "members": members}
    return out


@router.get("/contracts/{contract_id}/charges")
def contract_charges(contract_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """A contract's charges (one per payer) and the provider's payouts, to the contract's
    parties and members."""
    return contract_charges_dict(services.billing.for_contract(contract_id, who.id), services)


@router.post("/contracts/{contract_id}/charges/retry")
def retry(
    contract_id: str,
    who: CallerDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """The payer asks for an attempt on its pending charge now ("pay now"). One is made only
    when it could end differently from the last: on a default card other than the one last
    tried, or after a gateway error. Otherwise 409, counting nothing and naming the next
    scheduled try ("save a card first" when there is none). With an ``Idempotency-Key``, a
    repeated request makes no second attempt, even when the copies arrive together."""
    charges = services.billing.retry(contract_id, who.id, idempotency_key)
    return {"items": [charge_dict(c) for c in charges]}


@router.get("/charges")
def my_charges(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's charges as a payer, newest first."""
    return {"items": [charge_dict(c) for c in services.billing.of_payer(who.id)]}
