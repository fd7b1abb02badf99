"""Auctions, bids and outcomes on the wire (SPEC section 8)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from commex.api.wire.parties import party
from commex.domain.auctions import Outcome
from commex.services.marketplace import ListedAuction
from commex.services.results import AuctionView, BidView, GroupBadge, Party, PlacedBid


def bid(v: BidView) -> dict[str, Any]:
    """A bid with its bidder; the proxy limit only reaches the bidder's own view."""
    b = v.bid
    out: dict[str, Any] = {
        "id": b.id,
        "auction_id": b.auction_id,
        "bidder": party(v.bidder),
        "amount": str(b.amount),
        "created_at": b.created_at.isoformat(),
        "proxy": b.proxy,
        "active": b.active,
    }
    if b.max_amount is not None:
        out["max_amount"] = str(b.max_amount)
    if v.effective_price is not None:
        out["effective_price"] = f"{v.effective_price:.4f}"
    if v.rank is not None:
        out["rank"] = v.rank
    return out


def placed_bid(p: PlacedBid) -> dict[str, Any]:
    """The answer to a bid: the bid as its bidder sees it."""
    return bid(p.view)


def placed_bid_json(p: PlacedBid) -> bytes:
    """:func:`placed_bid` as its compact JSON (``json.dumps`` with ``ensure_ascii=False``),
    written from its fields: the bidder's part, the same for every bid it places until its
    reputation moves, is encoded once (:func:`_party_json`). A bid placed by the bid writer
    of ``commex serve --workers N`` comes with it, encoded there by this same function."""
    encoded: bytes | None = getattr(p, "encoded", None)
    if encoded is not None:
        return encoded
    v = p.view
    b = v.bid
    text = (
        f'{{"id":{encode_basestring(b.id)},"auction_id":{encode_basestring(b.auction_id)},'
        f'"bidder":{_party_json(v.bidder)},"amount":{encode_basestring(str(b.amount))},'
        f'"created_at":{encode_basestring(b.created_at.isoformat())},'
        f'"proxy":{_BOOL[b.proxy]},"active":{_BOOL[b.active]}'
    )
    if b.max_amount is not None:
        text += f',"max_amount":{encode_basestring(str(b.max_amount))}'
    if v.effective_price is not None:
        text += f',"effective_price":{encode_basestring(f"{v.effective_price:.4f}")}'
    if v.rank is not None:
        text += f',"rank":{int(v.rank)}'
    return (text + "}").encode()


_BOOL = {True: "true", False: "false"}
_PARTIES: dict[Party, str] = {}
_MAX_PARTIES = 4096


def _party_json(p: Party) -> str:
    """A party's JSON, kept by value: a party is frozen, so an equal one encodes the same."""
    found = _PARTIES.get(p)
    if found is None:
        found = json.dumps(party(p), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        if len(_PARTIES) >= _MAX_PARTIES:
            _PARTIES.clear()
        _PARTIES[p] = found
    return found


def outcome(o: Outcome) -> dict[str, Any]:
    return {
        "winners": [
            {
                "bid_id": w.bid_id,
                "bidder_id": w.bidder_id,
                "price": str(w.price),
                "contract_id": w.contract_id,
            }
            for w in o.winners
        ],
        "closed_at": o.closed_at.isoformat(),
        "closed_by": o.closed_by,
        "reason": o.reason,
        "note": o.note,
        "defaulted": [
            {
                "bid_id": d.bid_id,
                "bidder_id": d.bidder_id,
                "contract_id": d.contract_id,
                "reason": d.reason.value,
            }
            for d in o.defaulted
        ],
        "unsold": o.unsold,
    }


def group_badge(g: GroupBadge) -> dict[str, Any]:
    """The group behind an auction and its payers with their pledges."""
    return {
        "id": g.id,
        "name": g.name,
        "payers": [party(p) | {"pledge": str(m)} for p, m in g.payers],
    }


def auction(v: AuctionView) -> dict[str, Any]:
    """An auction as one viewer may see it."""
    a = v.auction
    out: dict[str, Any] = {
        "id": a.id,
        "title": a.title,
        "owner": party(v.owner),
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
        "ranking_rule": v.ranking_rule,
        "eligibility": {
            "min_provider_score": a.eligibility.min_provider_score,
            "min_recipient_score": a.eligibility.min_recipient_score,
            "approved_providers": sorted(a.eligibility.approved_providers),
        },
        "bid_count": a.bid_count,
        "bids": [bid(b) for b in v.bids],
    }
    if v.reserve is not None:
        out["reserve"] = str(v.reserve)
    if v.standing_price is not None:
        out["standing_price"] = str(v.standing_price)
        if v.leader is not None:
            out["leader"] = party(v.leader)
    if a.outcome is not None:
        out["outcome"] = outcome(a.outcome)
    if a.cancel_reason is not None:
        out["cancel_reason"] = a.cancel_reason
    if v.group is not None:
        out["group"] = group_badge(v.group)
    return out


def auction_line(s: ListedAuction) -> dict[str, Any]:
    """A line of the auction list."""
    a = s.auction
    rep = s.owner_reputation
    return {
        "id": a.id,
        "title": a.title,
        "owner": {
            "id": a.owner_id,
            "name": s.owner_name,
            "reputation": rep.to_dict() | {"role": a.owner_role.value, "summary": rep.describe()},
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
