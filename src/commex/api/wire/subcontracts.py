"""Subcontracts and node keys on the wire (S10)."""

from __future__ import annotations

from typing import Any

from commex.api.wire.parties import party
from commex.domain.nodekeys import NodeKey
from commex.services.subcontract_results import (
    IssuedKey,
    MeteredRun,
    OpenedSubcontract,
    SubcontractLine,
)


def subcontract(line: SubcontractLine) -> dict[str, Any]:
    """A subcontract. Without ``priced`` (the parent's recipient) it says which step went to
    whom, how many packets and how it stands, and nothing of the price."""
    s = line.subcontract
    out: dict[str, Any] = {
        "id": s.id,
        "kind": "subcontract",
        "parent_contract_id": s.parent_id,
        "step": s.step,
        "provider": party(line.subcontractor),
        "subcontracting_provider": party(line.subcontracting),
        "packets": s.packets,
        "status": s.contract.status.value,
        "outcome": None if s.outcome is None else s.outcome.value,
        "created_at": s.contract.created_at.isoformat(),
        "closed_at": None if s.closed_at is None else s.closed_at.isoformat(),
        "end_reason": None if s.contract.end_reason is None else s.contract.end_reason.value,
        "end_note": s.contract.end_note,
    }
    if not line.priced:
        return out
    rating = line.rating
    charge = line.charge
    return out | {
        "price_per_1000_packets": str(s.contract.price),
        "currency": s.contract.price.currency,
        "amount": str(s.amount),
        "detail": s.detail,
        "rating": None
        if rating is None
        else {"satisfied": rating.satisfied, "comment": rating.comment},
        "charge": None
        if charge is None
        else {"id": charge.id, "amount": str(charge.amount), "status": charge.status.value},
    }


def opened(o: OpenedSubcontract) -> dict[str, Any]:
    """A subcontract just opened, with the work token its plane presents to the node (shown
    this once)."""
    return subcontract(o.line) | {"work_token": o.work_token}


def metered(m: MeteredRun) -> dict[str, Any]:
    return {
        "subcontract_id": m.line.subcontract.id,
        "run_id": m.run_id,
        "packets": m.packets,
        "repeated": m.repeated,
        "total_packets": m.line.subcontract.packets,
    }


def node_key(k: NodeKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "hint": f"...{k.hint}",
        "created_at": k.created_at.isoformat(),
        "revoked_at": None if k.revoked_at is None else k.revoked_at.isoformat(),
    }


def issued_key(i: IssuedKey) -> dict[str, Any]:
    """A new node key with the key itself, shown this once."""
    return node_key(i.key) | {"key": i.secret}
