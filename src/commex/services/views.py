"""What a viewer sees of an auction: the wire form shared by the API, pages and command line.

Visibility (A8) is decided by the domain (:func:`visible_bids`); this module only shapes it,
adding each party's reputation in the role that matters (R5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Direction, Outcome, Status
from commex.domain.contracts import Contract
from commex.domain.formats import effective_price
from commex.domain.members import Member
from commex.domain.ratings import Rating
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.domain.service_level import Delivery
from commex.domain.usage import UsageSession
from commex.services.usage import UsageView

MAX_BIDS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Party:
    """An account as others see it: name and reputation in one role."""

    id: str
    name: str
    role: Role
    reputation: Reputation

    def to_dict(self) -> dict[str, Any]:
        rep: dict[str, Any] = dict(self.reputation.to_dict())
        rep["role"] = self.role.value
        rep["summary"] = self.reputation.describe()
        return {"id": self.id, "name": self.name, "reputation": rep}


def party(account: Account | None, account_id: str, role: Role, rep: Reputation) -> Party:
    return Party(account_id, account.name if account else account_id, role, rep)


@dataclass(frozen=True, slots=True)
class BidView:
    bid: Bid
    bidder: Party
    effective_price: Decimal | None
    rank: int | None

    def to_dict(self) -> dict[str, Any]:
        b = self.bid
        out: dict[str, Any] = {
            "id": b.id,
            "auction_id": b.auction_id,
            "bidder": self.bidder.to_dict(),
            "amount": str(b.amount),
            "created_at": b.created_at.isoformat(),
            "proxy": b.proxy,
            "active": b.active,
        }
        if b.max_amount is not None:
            out["max_amount"] = str(b.max_amount)
        if self.effective_price is not None:
            out["effective_price"] = f"{self.effective_price:.4f}"
        if self.rank is not None:
            out["rank"] = self.rank
        return out


@dataclass(frozen=True, slots=True)
class AuctionView:
    auction: Auction
    owner: Party
    bids: tuple[BidView, ...]
    ranking_rule: str
    viewer_is_owner: bool
    leader: Party | None = None
    group: Mapping[str, Any] | None = None  # the group that buys through the auction, if any

    def to_dict(self) -> dict[str, Any]:
        a = self.auction
        out: dict[str, Any] = {
            "id": a.id,
            "title": a.title,
            "owner": self.owner.to_dict(),
            "direction": a.direction.value,
            "format": a.format.value,
            "status": a.status.value,
            "created_at": a.created_at.isoformat(),
            "closes_at": a.closes_at.isoformat(),
            "terms": a.terms.to_dict(),
            "currency": a.currency,
            "quantity": a.quantity,
            "min_increment": str(a.min_increment),
            "soft_close_s": a.soft_close_s,
            "reputation_weight": str(a.reputation_weight),
            "ranking_rule": self.ranking_rule,
            "eligibility": {
                "min_provider_score": a.eligibility.min_provider_score,
                "min_recipient_score": a.eligibility.min_recipient_score,
                "approved_providers": sorted(a.eligibility.approved_providers),
            },
            "bid_count": a.bid_count,
            "bids": [b.to_dict() for b in self.bids],
        }
        # The ceiling of a reverse auction is public; a forward reserve is the owner's secret.
        if a.reserve is not None and (a.direction is Direction.REVERSE or self.viewer_is_owner):
            out["reserve"] = str(a.reserve)
        if not a.sealed and a.english.price is not None:
            out["standing_price"] = str(a.english.price)
            if self.leader is not None:
                out["leader"] = self.leader.to_dict()
        if a.outcome is not None:
            out["outcome"] = outcome_dict(a.outcome)
        if a.cancel_reason is not None:
            out["cancel_reason"] = a.cancel_reason
        if self.group is not None:
            out["group"] = dict(self.group)
        return out


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "winners": [
            {
                "bid_id": w.bid_id,
                "bidder_id": w.bidder_id,
                "price": str(w.price),
                "contract_id": w.contract_id,
            }
            for w in outcome.winners
        ],
        "closed_at": outcome.closed_at.isoformat(),
        "closed_by": outcome.closed_by,
        "reason": outcome.reason,
        "note": outcome.note,
    }


def bid_views(
    auction: Auction,
    bids: Sequence[Bid],
    accounts: Mapping[str, Account],
    reps: Mapping[str, Reputation],
    viewer_id: str | None = None,
) -> tuple[BidView, ...]:
    """Visible bids with their bidders' reputations, ranked best first (english: newest first),
    at most MAX_BIDS_SHOWN of them plus the viewer's own."""
    role = auction.bidder_role
    weighted = auction.direction is Direction.REVERSE
    eff: dict[str, Decimal] = {}
    if weighted:
        for b in bids:
            eff[b.id] = effective_price(
                b.amount, reps.get(b.bidder_id, NO_RATINGS), auction.reputation_weight
            )
    if not auction.sealed:
        ordered = sorted(bids, key=lambda b: -b.seq)
        ranks: dict[str, int] = {}
    else:
        active = [b for b in bids if b.active]
        if weighted:
            active.sort(key=lambda b: (eff[b.id], b.seq))
        else:
            active.sort(key=lambda b: (-b.amount.amount, b.seq))
        # A rank is meaningful when the viewer sees the whole field (after the close).
        ranks = (
            {b.id: i + 1 for i, b in enumerate(active)} if auction.status is Status.CLOSED else {}
        )
        ordered = active + sorted((b for b in bids if not b.active), key=lambda b: -b.seq)
    return tuple(
        BidView(
            b,
            party(accounts.get(b.bidder_id), b.bidder_id, role, reps.get(b.bidder_id, NO_RATINGS)),
            eff.get(b.id),
            ranks.get(b.id),
        )
        for b in ordered[:MAX_BIDS_SHOWN]
        + [b for b in ordered[MAX_BIDS_SHOWN:] if b.bidder_id == viewer_id]
    )


def time_left(until: datetime, now: datetime) -> str:
    """``2 h 5 min`` until ``until``, or ``closing`` once it has passed (pages and the command
    line say it alike)."""
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "closing"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def contract_dict(
    c: Contract,
    members: Sequence[Member] = (),
    ratings: Sequence[Rating] = (),
    usage: UsageView | None = None,
) -> dict[str, Any]:
    """The contract's wire form (SPEC section 8), with its members, usage and ratings."""
    return {
        "id": c.id,
        "auction_id": c.auction_id,
        "bid_id": c.bid_id,
        "provider_id": c.provider_id,
        "recipient_id": c.recipient_id,
        "price": str(c.price),
        "currency": c.price.currency,
        "terms": c.terms.to_dict(),
        "status": c.status.value,
        "created_at": c.created_at.isoformat(),
        "started_at": None if c.started_at is None else c.started_at.isoformat(),
        "members": [member_dict(m) for m in members],
        "usage": usage_dict(usage) if usage is not None else _block_dict(c),
        "breaches": []
        if usage is None
        else [delivery_dict(d) for d in usage.deliveries if d.breach],
        "ratings": [rating_dict(r) for r in ratings],
    }


def seconds(ms: int) -> int | float:
    """Milliseconds as seconds on the wire: whole seconds as integers."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def seconds_text(ms: int) -> str:
    """Milliseconds as seconds for people: ``12``, ``12.5``."""
    return str(seconds(ms))


def _block_dict(c: Contract) -> dict[str, Any]:
    block = c.terms.duration_s * 1000
    return {
        "block_seconds": c.terms.duration_s,
        "used_seconds": seconds(c.used_ms),
        "remaining_seconds": seconds(max(0, block - c.used_ms)),
    }


def usage_dict(u: UsageView) -> dict[str, Any]:
    """The block, each member's share (removed members too) and the packet plane's part."""
    out = _block_dict(u.contract)
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
    out["deliveries"] = [delivery_dict(d) for d in u.deliveries]
    return out


def delivery_dict(d: Delivery) -> dict[str, Any]:
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
        "created_at": d.created_at.isoformat(),
    }


def session_dict(s: UsageSession) -> dict[str, Any]:
    return {
        "id": s.id,
        "member_id": s.member_id,
        "started_at": s.started_at.isoformat(),
        "ended_at": None if s.ended_at is None else s.ended_at.isoformat(),
        "used_seconds": seconds(s.used_ms),
        "bytes": s.bytes,
    }


def member_dict(m: Member) -> dict[str, Any]:
    out = {
        "id": m.id,
        "kind": m.kind.value,
        m.kind.value: m.ref,
        "added_at": m.created_at.isoformat(),
    }
    if m.removed_at is not None:
        out["removed_at"] = m.removed_at.isoformat()
    return out


def rating_dict(r: Rating) -> dict[str, Any]:
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
