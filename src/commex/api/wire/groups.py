"""Groups on the wire: members with their standing and sponsorship, shares and charges."""

from __future__ import annotations

from typing import Any

from commex.api.wire.parties import party
from commex.domain.groups import Group, GroupMember
from commex.services.results import GroupAuction, GroupView, MemberLine, Share


def member_line(m: MemberLine) -> dict[str, Any]:
    g = m.member
    return {
        "account": party(m.party),
        "state": g.state.value,
        "pledge": None if g.pledge is None else str(g.pledge),
        "joined_at": None if g.joined_at is None else g.joined_at.isoformat(),
        "sponsored_by": [party(p) for p in m.sponsored_by],
        "sponsoring": [party(p) for p in m.sponsoring],
        "unsponsored": m.unsponsored,
    }


def share(s: Share) -> dict[str, Any]:
    c = s.charge
    return {
        "payer": party(s.payer),
        "amount": str(s.amount),
        "charge_id": None if c is None else c.id,
        "charge_status": "to be charged" if c is None else c.status.value,
    }


def group_auction(ga: GroupAuction) -> dict[str, Any]:
    a = ga.auction
    return {
        "id": a.id,
        "title": a.title,
        "status": a.status.value,
        "closes_at": a.closes_at.isoformat(),
        "ceiling": None if a.reserve is None else str(a.reserve),
        "contract_id": ga.contract_id,
        "price": None if ga.price is None else str(ga.price),
        "shares": [share(s) for s in ga.shares],
    }


def group(v: GroupView) -> dict[str, Any]:
    """A group as one of its members sees it."""
    g = v.group
    return {
        "id": g.id,
        "name": g.name,
        "currency": g.currency,
        "split_rule": g.rule.value,
        "split_rule_text": v.rule_text,
        "creator_id": g.creator_id,
        "created_at": g.created_at.isoformat(),
        "my_state": v.me.state.value,
        "ceiling": str(v.ceiling),
        "auction_under_way": v.under_way,
        "members": [member_line(m) for m in v.members],
        "auctions": [group_auction(a) for a in v.auctions],
    }


def group_line(g: Group) -> dict[str, Any]:
    """A line of the caller's groups."""
    return {"id": g.id, "name": g.name, "currency": g.currency, "split_rule": g.rule.value}


def invitation(m: GroupMember) -> dict[str, Any]:
    return {"group_id": m.group_id, "account_id": m.account_id, "state": "invited"}
