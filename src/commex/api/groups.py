"""The HTTP API of groups (G1-G3): form one, invite, answer, sponsor, open its auction.

Only a group's members and invitees see it; to anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, StringConstraints

from commex.api.deps import CallerDep, ServicesDep
from commex.api.schemas import Amount, EligibilityIn, Id, TermsIn, _Body

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


@router.post("/groups", status_code=201)
def create_group(body: GroupIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Form a group of recipients; the creator joins as a payer if it pledges."""
    view = services.groups.create(who.id, body.name, body.currency, body.split_rule, body.pledge)
    return view.to_dict()


@router.get("/groups")
def my_groups(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The groups the caller is in or invited to, newest first."""
    items = [
        {"id": g.id, "name": g.name, "currency": g.currency, "split_rule": g.rule.value}
        for g in services.groups.mine(who.id)
    ]
    return {"items": items}


@router.get("/groups/{group_id}")
def get_group(group_id: str, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """A group as one of its members sees it: members, pledges, sponsorship, the split rule,
    and each awarded auction's shares and charges."""
    return services.groups.view(group_id, who.id).to_dict()


@router.post("/groups/{group_id}/invitations", status_code=201)
def invite(
    group_id: str, body: InvitationIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The group's creator invites a recipient account."""
    member = services.groups.invite(group_id, who.id, body.account_id)
    return {"group_id": member.group_id, "account_id": member.account_id, "state": "invited"}


@router.post("/groups/{group_id}/membership")
def answer(
    group_id: str, body: MembershipIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Join as a payer (with a pledge) or a non-payer, change that, decline, or leave. After a
    decline or leave the answer is ``{"id", "member": false}``: the group is no longer the
    caller's to see."""
    view = services.groups.answer(group_id, who.id, body.answer, body.pledge)
    if view is None:
        return {"id": group_id, "member": False}
    return view.to_dict() | {"member": True}


@router.put("/groups/{group_id}/sponsorships")
def sponsor(
    group_id: str, body: SponsorshipsIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """A payer names the non-payers it sponsors (replacing its earlier list)."""
    return services.groups.sponsor(group_id, who.id, body.sponsored).to_dict()


@router.post("/groups/{group_id}/auctions", status_code=201)
def open_auction(
    group_id: str, body: GroupAuctionIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The creator opens the group's reverse auction; its ceiling is the payers' pledges."""
    request = body.model_dump(exclude_none=True)
    auction = services.groups.open_auction(group_id, who.id, request)
    return services.groups.with_group(services.exchange.view(auction.id, who.id)).to_dict()
