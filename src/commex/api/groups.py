"""The HTTP API of groups (G1-G3): form one, invite, answer, sponsor, open its auction.

Only a group's members and invitees see it; to anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, StringConstraints

from commex.api import paging
from commex.api.deps import BusDep, CallerDep
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import Amount, EligibilityIn, Id, TermsIn, _Body
from commex.api.wire import auctions as auction_wire
from commex.api.wire import groups as wire
from commex.domain.time import to_micros
from commex.services import commands as c
from commex.services import queries as q

router = APIRouter(prefix="/v1", tags=["groups"])
Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class GroupIn(_Body):
    name: Name
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    split_rule: Literal["proportional", "equal"] | None = None
    pledge: Amount | None = Field(
        default=None, description="The creator's pledge; left out, the creator does not pay."
    )


class InvitationIn(_Body):
    account_id: Id


class MembershipIn(_Body):
    answer: Literal["payer", "non-payer", "decline", "leave"]
    pledge: Amount | None = None


class SponsorshipsIn(_Body):
    sponsored: Annotated[list[Id], Field(max_length=50)]


class GroupAuctionIn(_Body):
    direction: Literal["reverse"] | None = None
    format: Literal["first-price", "second-price", "english"]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    terms: TermsIn
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = None
    reserve: Amount | None = Field(
        default=None, description="The ceiling: at most the payers' pledges, which is the default."
    )
    closes_at: Annotated[str, StringConstraints(max_length=64)]
    min_increment: Amount | None = None
    soft_close_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    reputation_weight: Annotated[str, StringConstraints(max_length=12)] | float | None = None
    eligibility: EligibilityIn | None = None

    def command(self, group_id: str, caller_id: str) -> c.OpenGroupAuction:
        return c.OpenGroupAuction(
            group_id=group_id,
            caller_id=caller_id,
            format=self.format,
            title=self.title,
            terms=self.terms.terms(),
            closes_at=self.closes_at,
            direction=self.direction,
            currency=self.currency,
            reserve=self.reserve,
            min_increment=self.min_increment,
            soft_close_s=self.soft_close_s,
            reputation_weight=self.reputation_weight,
            eligibility=None if self.eligibility is None else self.eligibility.eligibility(),
        )


@router.post("/groups", status_code=201)
def create_group(body: GroupIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Form a group of recipients; the creator joins as a payer if it pledges."""
    cmd = c.CreateGroup(who.id, body.name, body.currency, body.split_rule, body.pledge)
    return wire.group(bus.handle(cmd))


@router.get("/groups")
def my_groups(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The groups the caller is in or invited to, newest first."""
    mine = bus.handle(q.MyGroups(who.id))
    key = lambda g: (to_micros(g.created_at), g.id)  # noqa: E731
    found = paging.page("groups", mine, key, limit, cursor, descending=True)
    return paging.answer("groups", [wire.group_line(g) for g in found.items], found.next_key)


@router.get("/groups/{group_id}")
def get_group(group_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A group as one of its members sees it: members, pledges, sponsorship, the split rule,
    and each awarded auction's shares and charges."""
    return wire.group(bus.handle(q.ShowGroup(group_id, who.id)))


@router.post("/groups/{group_id}/invitations", status_code=201)
def invite(group_id: str, body: InvitationIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The group's creator invites a recipient account."""
    return wire.invitation(bus.handle(c.InviteToGroup(group_id, who.id, body.account_id)))


@router.post("/groups/{group_id}/membership")
def answer(group_id: str, body: MembershipIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Join as a payer (with a pledge) or a non-payer, change that, decline, or leave. After a
    decline or leave the answer is ``{"id", "member": false}``: the group is no longer the
    caller's to see."""
    view = bus.handle(c.AnswerGroup(group_id, who.id, body.answer, body.pledge))
    if view is None:
        return {"id": group_id, "member": False}
    return wire.group(view) | {"member": True}


@router.put("/groups/{group_id}/sponsorships")
def sponsor(group_id: str, body: SponsorshipsIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A payer names the non-payers it sponsors (replacing its earlier list)."""
    return wire.group(bus.handle(c.Sponsor(group_id, who.id, tuple(body.sponsored))))


@router.post("/groups/{group_id}/auctions", status_code=201)
def open_auction(
    group_id: str, body: GroupAuctionIn, who: CallerDep, bus: BusDep
) -> dict[str, Any]:
    """The creator opens the group's reverse auction; its ceiling is the payers' pledges."""
    return auction_wire.auction(bus.handle(body.command(group_id, who.id)))
