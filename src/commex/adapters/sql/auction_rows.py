"""An auction as a row of ``auctions`` and back: its terms, eligibility and outcome as JSON,
money as integer minor units, times as microseconds."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from commex.adapters.sql.rows import minor_or_none, money_or_none, terms_json
from commex.domain.auctions import (
    Auction,
    Direction,
    Eligibility,
    EnglishState,
    Format,
    Outcome,
    Status,
    Winner,
)
from commex.domain.contracts import Defaulted, EndReason
from commex.domain.money import Money
from commex.domain.terms import parse_terms
from commex.domain.time import from_micros, to_micros


def auction_values(a: Auction) -> dict[str, Any]:
    e = a.eligibility
    outcome = None
    if a.outcome is not None:
        o = a.outcome
        outcome = json.dumps(
            {
                "winners": [
                    [w.bid_id, w.bidder_id, w.price.to_minor(), w.contract_id] for w in o.winners
                ],
                "closed_us": to_micros(o.closed_at),
                "closed_by": o.closed_by,
                "reason": o.reason,
                "note": o.note,
                "defaulted": [
                    [d.bid_id, d.bidder_id, d.contract_id, d.reason.value] for d in o.defaulted
                ],
                "unsold": o.unsold,
            }
        )
    st = a.english
    return {
        "id": a.id,
        "owner_id": a.owner_id,
        "direction": a.direction.value,
        "format": a.format.value,
        "title": a.title,
        "terms": terms_json(a.terms),
        "currency": a.currency,
        "quantity": a.quantity,
        "reserve_minor": minor_or_none(a.reserve),
        "min_increment_minor": a.min_increment.to_minor(),
        "soft_close_s": a.soft_close_s,
        "reputation_weight": str(a.reputation_weight),
        "eligibility": json.dumps(
            {
                "min_provider_score": e.min_provider_score,
                "min_recipient_score": e.min_recipient_score,
                "approved_providers": sorted(e.approved_providers),
            }
        ),
        "closes_us": to_micros(a.closes_at),
        "created_us": to_micros(a.created_at),
        "status": a.status.value,
        "bid_count": a.bid_count,
        "bid_seq": a.bid_seq,
        "leader_id": st.leader_id,
        "leader_bid_id": st.leader_bid_id,
        "price_minor": minor_or_none(st.price),
        "limit_minor": minor_or_none(st.limit),
        "outcome": outcome,
        "cancel_reason": a.cancel_reason,
        "owner_group": a.owner_group or None,
    }


def auction_row(r: Row[Any]) -> Auction:
    cur = r.currency
    e = json.loads(r.eligibility)
    outcome = None
    if r.outcome is not None:
        o = json.loads(r.outcome)
        outcome = Outcome(
            winners=tuple(
                Winner(bid, bidder, Money.from_minor(price, cur), contract)
                for bid, bidder, price, contract in o["winners"]
            ),
            closed_at=from_micros(o["closed_us"]),
            closed_by=o["closed_by"],
            reason=o["reason"],
            note=o["note"],
            defaulted=tuple(
                Defaulted(bid, bidder, contract, EndReason(why))
                for bid, bidder, contract, why in o.get("defaulted", ())
            ),
            unsold=o.get("unsold", 0),
        )
    return Auction(
        id=r.id,
        owner_id=r.owner_id,
        direction=Direction(r.direction),
        format=Format(r.format),
        title=r.title,
        terms=parse_terms(json.loads(r.terms)),
        currency=cur,
        quantity=r.quantity,
        reserve=money_or_none(r.reserve_minor, cur),
        min_increment=Money.from_minor(r.min_increment_minor, cur),
        soft_close_s=r.soft_close_s,
        reputation_weight=Decimal(r.reputation_weight),
        eligibility=Eligibility(
            e["min_provider_score"], e["min_recipient_score"], frozenset(e["approved_providers"])
        ),
        closes_at=from_micros(r.closes_us),
        created_at=from_micros(r.created_us),
        status=Status(r.status),
        bid_count=r.bid_count,
        bid_seq=r.bid_seq,
        english=EnglishState(
            r.leader_id,
            r.leader_bid_id,
            money_or_none(r.price_minor, cur),
            money_or_none(r.limit_minor, cur),
        ),
        outcome=outcome,
        cancel_reason=r.cancel_reason,
        owner_group=r.owner_group or "",
    )
