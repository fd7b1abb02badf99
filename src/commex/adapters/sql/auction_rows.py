"""An auction as its row in ``auctions`` and back: its terms, eligibility and outcome as JSON,
money in minor units, times in microseconds, and the columns search filters and sorts on."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from commex.adapters.sql.rows import minor_or_none, stored_money_or_none, terms_json
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
from commex.domain.finding import fold, listed_price, price_key
from commex.domain.money import Money
from commex.domain.terms import stored_terms
from commex.domain.time import from_micros, to_micros


def _outcome_json(a: Auction) -> str | None:
    """The outcome as stored: winners, the close, and any contract cancelled since."""
    o = a.outcome
    if o is None:
        return None
    return json.dumps(
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


def auction_values(a: Auction) -> dict[str, Any]:
    e = a.eligibility
    st, terms = a.english, a.terms
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
        "outcome": _outcome_json(a),
        "cancel_reason": a.cancel_reason,
        "owner_group": a.owner_group or None,
        # what search filters and sorts on (commex.domain.finding)
        "service": terms.service,
        "min_rate_bps": terms.min_rate_bps,
        "max_rate_bps": terms.max_rate_bps,
        "window_start_us": None if terms.window_start is None else to_micros(terms.window_start),
        "window_end_us": None if terms.window_end is None else to_micros(terms.window_end),
        "list_price": price_key(listed_price(a)),
        "title_key": fold(a.title),
    }


def auction_of_row(r: Row[Any]) -> Auction:
    cur = r.currency
    e = json.loads(r.eligibility)
    outcome = None
    if r.outcome is not None:
        o = json.loads(r.outcome)
        outcome = Outcome(
            winners=tuple(
                Winner(bid, bidder, Money.from_stored(price, cur), contract)
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
        terms=stored_terms(json.loads(r.terms)),
        currency=cur,
        quantity=r.quantity,
        reserve=stored_money_or_none(r.reserve_minor, cur),
        min_increment=Money.from_stored(r.min_increment_minor, cur),
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
            stored_money_or_none(r.price_minor, cur),
            stored_money_or_none(r.limit_minor, cur),
        ),
        outcome=outcome,
        cancel_reason=r.cancel_reason,
        owner_group=r.owner_group or "",
    )
