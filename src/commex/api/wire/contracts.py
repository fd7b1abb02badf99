"""Contracts in use on the wire: the contract with its members, usage and ratings (SPEC
section 8), usage sessions and reports, deliveries, and a provider's capacity."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from commex.api.wire import subcontracts
from commex.cursors import encode
from commex.domain.contracts import Contract
from commex.domain.members import Member
from commex.domain.ratings import Rating
from commex.domain.service_level import Delivery
from commex.domain.usage import UsageSession
from commex.presentation import seconds
from commex.services.results import CapacityView, ContractView, UsageReport, UsageView


def contract(
    c: Contract,
    members: Sequence[Member] = (),
    ratings: Sequence[Rating] = (),
    usage_view: UsageView | None = None,
) -> dict[str, Any]:
    """A contract; with its members, usage and ratings when shown whole."""
    return {
        "id": c.id,
        "kind": c.kind.value,
        "parent_contract_id": c.parent_contract_id,
        "auction_id": c.auction_id,
        "bid_id": c.bid_id,
        "provider_id": c.provider_id,
        "recipient_id": c.recipient_id,
        "price": str(c.price),
        "currency": c.price.currency,
        "terms": c.terms.to_dict(),
        "status": c.status.value,
        **lifecycle(c),
        "members": [member(m) for m in members],
        "usage": usage(usage_view) if usage_view is not None else _block(c),
        "breaches": []
        if usage_view is None
        else [delivery(d) for d in usage_view.deliveries if d.breach],
        "ratings": [rating(r) for r in ratings],
    }


def lifecycle(c: Contract) -> dict[str, Any]:
    """When the contract was awarded, started and ended, how it ended and who ended it."""
    return {
        "created_at": c.created_at.isoformat(),
        "awarded_at": c.created_at.isoformat(),
        "started_at": _iso(c.started_at),
        "completed_at": _iso(c.completed_at),
        "cancelled_at": _iso(c.cancelled_at),
        "end_reason": None if c.end_reason is None else c.end_reason.value,
        "end_note": c.end_note,
        "cancelled_by": c.ended_by,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


SUBCONTRACTS_OF = "contract_subcontracts"
"""The list a parent contract's subcontracts page through (``/v1/contracts/{id}/subcontracts``)."""


def contract_view(v: ContractView) -> dict[str, Any]:
    """A contract shown whole: with the first page of the steps it subcontracted (each
    subcontract's price only for those who may see it) and the cursor of the next page, or,
    for a subcontract, its own part."""
    out = contract(v.contract, v.members, v.ratings, v.usage)
    out["subcontracts"] = [subcontracts.subcontract(x) for x in v.subcontracts]
    out["subcontracts_next_cursor"] = encode(SUBCONTRACTS_OF, v.subcontracts_next)
    if v.subcontract is not None:
        out["subcontract"] = subcontracts.subcontract(v.subcontract)
    return out


def _block(c: Contract) -> dict[str, Any]:
    block = c.terms.duration_s * 1000
    return {
        "block_seconds": c.terms.duration_s,
        "used_seconds": seconds(c.used_ms),
        "remaining_seconds": seconds(max(0, block - c.used_ms)),
    }


def usage(u: UsageView) -> dict[str, Any]:
    """The block, each member's share (removed members too) and the packet plane's part."""
    out = _block(u.contract)
    out["members"] = [
        {
            "member_id": s.member.id,
            "kind": s.member.kind.value,
            s.member.kind.value: s.member.ref,
            "removed": s.member.removed_at is not None,
            "used_seconds": seconds(s.usage.used_ms),
            "bytes": s.usage.bytes,
            "sessions": s.usage.sessions,
        }
        for s in u.members
    ]
    out["delivered_seconds"] = seconds(u.delivered_ms)
    out["deliveries"] = [delivery(d) for d in u.deliveries]
    return out


def usage_report(r: UsageReport) -> dict[str, Any]:
    """What a usage report consumed of the block, and why any of it was cut."""
    m = r.metered
    return {
        "accepted_seconds": seconds(m.accepted_ms),
        "remaining_seconds": seconds(m.remaining_ms),
        "cut": m.cut,
        "session": session(r.session),
    }


def started_session(r: UsageReport) -> dict[str, Any]:
    return session(r.session) | {"remaining_seconds": seconds(r.metered.remaining_ms)}


def delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "run_id": d.run_id,
        "reported_seconds": seconds(d.reported_ms),
        "accepted_seconds": seconds(d.accepted_ms),
        "bytes": d.bytes,
        "packets": d.packets,
        "achieved_rate_bps": d.achieved_rate_bps,
        "min_rate_bps": d.min_rate_bps,
        "breach": d.breach,
        "breach_measured_by": d.breach_by,
        "receiver": None if d.receiver is None else d.receiver.to_dict(),
        "created_at": d.created_at.isoformat(),
    }


def session(s: UsageSession) -> dict[str, Any]:
    return {
        "id": s.id,
        "member_id": s.member_id,
        "started_at": s.started_at.isoformat(),
        "ended_at": None if s.ended_at is None else s.ended_at.isoformat(),
        "used_seconds": seconds(s.used_ms),
        "bytes": s.bytes,
    }


def member(m: Member) -> dict[str, Any]:
    out = {
        "id": m.id,
        "kind": m.kind.value,
        m.kind.value: m.ref,
        "added_at": m.created_at.isoformat(),
    }
    if m.removed_at is not None:
        out["removed_at"] = m.removed_at.isoformat()
    return out


def rating(r: Rating) -> dict[str, Any]:
    return {
        "id": r.id,
        "contract_id": r.contract_id,
        "rated_id": r.rated_id,
        "rated_role": r.rated_role.value,
        "rater_id": r.rater_account_id,
        "device_id": r.device_id,
        "satisfied": r.satisfied,
        "score": r.score,
        "comment": r.comment,
        "created_at": r.created_at.isoformat(),
    }


def capacity(v: CapacityView) -> dict[str, Any]:
    return {"capacity_bps": v.declared_bps, "committed_bps": v.committed_bps}
