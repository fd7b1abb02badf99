"""Cards, charges and payouts on the wire. A card is its brand, last four digits and expiry;
a charge never carries card data (the gateway holds that)."""

from __future__ import annotations

from typing import Any

from commex.api.wire.groups import member_line
from commex.domain.charges import Charge, ChargeStatus, Payout
from commex.domain.payment_methods import PaymentMethod
from commex.services.results import ContractCharges


def card(m: PaymentMethod) -> dict[str, Any]:
    return {
        "id": m.id,
        "brand": m.brand,
        "last4": m.last4,
        "exp_month": m.exp_month,
        "exp_year": m.exp_year,
        "default": m.is_default,
    }


def charge(c: Charge) -> dict[str, Any]:
    return {
        "id": c.id,
        "contract_id": c.contract_id,
        "payer_id": c.payer_id,
        "provider_id": c.provider_id,
        "group_id": c.group_id,
        "amount": str(c.amount),
        "currency": c.amount.currency,
        "status": c.status.value,
        "attempts": c.attempts,
        "declines": c.declines,
        "next_attempt_at": (
            c.next_attempt_at.isoformat() if c.status is ChargeStatus.PENDING else None
        ),
        "gateway_charge_id": c.gateway_charge_id,
        "decline_code": c.decline_code,
        "message": c.message,
        "created_at": c.created_at.isoformat(),
    }


def payout(p: Payout) -> dict[str, Any]:
    return {
        "id": p.id,
        "charge_id": p.charge_id,
        "provider_id": p.provider_id,
        "amount": str(p.amount),
        "currency": p.amount.currency,
        "created_at": p.created_at.isoformat(),
    }


def contract_charges(found: ContractCharges) -> dict[str, Any]:
    """A contract's charges and payouts; for a group's contract also every member it is
    provided to, paying (with its share and charge) or sponsored, and by whom (G3)."""
    out: dict[str, Any] = {
        "contract_id": found.contract.id,
        "group_id": found.group_id,
        "price": str(found.contract.price),
        "currency": found.contract.price.currency,
        "charges": [charge(c) for c in found.charges],
        "payouts": [payout(p) for p in found.payouts],
    }
    if found.group is not None:
        by_payer = {c.payer_id: c for c in found.charges}
        members = []
        for line in found.provided_to:
            paid = by_payer.get(line.member.account_id)
            members.append(
                member_line(line)
                | {
                    "share": None if paid is None else str(paid.amount),
                    "charge_status": None if paid is None else paid.status.value,
                }
            )
        out["group"] = {"id": found.group.id, "name": found.group.name, "members": members}
    return out
