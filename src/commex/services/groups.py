"""Groups of recipients (G1-G3): forming one, membership, pledges, sponsorship, and the group's
reverse auction, opened with its link to the group in one transaction.

Membership changes and the opening of the group's auction take the group's row lock, so a
pledge lowered while the auction opens either comes first (and the ceiling follows it) or waits.
"""

from __future__ import annotations

from dataclasses import replace

from commex.domain import groups as rules
from commex.domain.events import GroupInvited
from commex.domain.groups import GroupMember
from commex.services import audit
from commex.services import commands as c
from commex.services.auction_views import view_auction
from commex.services.auctions import open_in
from commex.services.bus import Deps
from commex.services.group_views import group_of, under_way, view_group
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.results import AuctionView, GroupView


def create_group(cmd: c.CreateGroup, uow: UnitOfWork, deps: Deps) -> GroupView:
    """Form a group; its creator joins as a payer when it pledges, else as a non-payer."""
    creator = account_of(uow, cmd.creator_id)
    group, me = rules.new_group(
        deps.ids.new("grp"), creator, cmd.name, cmd.currency, cmd.rule, cmd.pledge,
        deps.clock.now(),
    )  # fmt: skip
    uow.groups.add(group)
    uow.groups.put_member(me)
    audit.record(
        uow, deps, "group.created", group.id, by=creator.id,
        detail={"name": group.name, "rule": group.rule.value, "pledge": me.pledge},
    )  # fmt: skip
    return view_group(uow, deps, group.id, creator.id)


def invite(cmd: c.InviteToGroup, uow: UnitOfWork, deps: Deps) -> GroupMember:
    """The creator invites a recipient account."""
    uow.groups.lock(check_id("group", cmd.group_id))
    group, members = group_of(uow, cmd.group_id)
    inviter = account_of(uow, cmd.inviter_id)
    rules.check_sees(group, members, inviter)
    invitee = account_of(uow, cmd.account_id)
    member = rules.invite(
        group, members, inviter, invitee, under_way(uow, group.id), deps.clock.now()
    )
    uow.groups.put_member(member)
    uow.record([GroupInvited(group.id, group.name, invitee.id, inviter.id, member.invited_at)])
    audit.record(uow, deps, "group.invited", group.id, by=inviter.id, accounts=(invitee.id,))
    return member


def answer(cmd: c.AnswerGroup, uow: UnitOfWork, deps: Deps) -> GroupView | None:
    """Accept (as a payer with a pledge, or a non-payer), decline, change, or leave; the group
    as the member now sees it, or None once it has left or declined."""
    uow.groups.lock(check_id("group", cmd.group_id))
    group, members = group_of(uow, cmd.group_id)
    who = account_of(uow, cmd.account_id)
    change = rules.answer(
        group, members, who, cmd.answer, cmd.pledge, under_way(uow, group.id), deps.clock.now()
    )
    if change.drop_sponsorships:
        uow.groups.drop_sponsorships(group.id, who.id)
    now_in = change.member
    audit.record(
        uow, deps, "group.answered", group.id, by=who.id,
        detail={"answer": cmd.answer, "state": now_in.state.value if now_in else "out",
                "pledge": now_in.pledge if now_in else None},
    )  # fmt: skip
    if change.member is None:
        uow.groups.remove_member(group.id, who.id)
        return None
    uow.groups.put_member(change.member)
    return view_group(uow, deps, group.id, who.id)


def sponsor(cmd: c.Sponsor, uow: UnitOfWork, deps: Deps) -> GroupView:
    """Set whom the payer sponsors (replacing its earlier choice)."""
    uow.groups.lock(check_id("group", cmd.group_id))
    group, members = group_of(uow, cmd.group_id)
    payer = account_of(uow, cmd.payer_id)
    rows = rules.sponsor(group, members, payer, list(cmd.sponsored))
    uow.groups.set_sponsorships(group.id, payer.id, rows)
    audit.record(
        uow, deps, "group.sponsored", group.id, by=payer.id, accounts=tuple(cmd.sponsored),
        detail={"sponsored": " ".join(cmd.sponsored) or "none"},
    )  # fmt: skip
    return view_group(uow, deps, group.id, payer.id)


def open_group_auction(cmd: c.OpenGroupAuction, uow: UnitOfWork, deps: Deps) -> AuctionView:
    """Open the group's reverse auction: its ceiling is the payers' pledges, checked under the
    group's lock in the transaction that opens the auction and links it to the group."""
    uow.groups.lock(check_id("group", cmd.group_id))
    group, members = group_of(uow, cmd.group_id)
    caller = account_of(uow, cmd.caller_id)
    busy = under_way(uow, group.id)
    fixed = rules.group_auction(
        group, members, caller, busy, direction=cmd.direction, currency=cmd.currency,
        reserve=cmd.reserve, max_members=cmd.terms.max_members,
    )  # fmt: skip
    wanted = c.OpenAuction(
        owner_id=caller.id,
        direction=fixed.direction,
        format=cmd.format,
        title=cmd.title,
        terms=replace(cmd.terms, max_members=fixed.max_members),
        currency=fixed.currency,
        closes_at=cmd.closes_at,
        reserve=str(fixed.reserve),
        min_increment=cmd.min_increment,
        soft_close_s=cmd.soft_close_s,
        reputation_weight=cmd.reputation_weight,
        eligibility=cmd.eligibility,
    )
    auction = open_in(uow, deps, wanted, group.id)
    uow.groups.link_auction(group.id, auction.id, auction.created_at)
    return view_auction(uow, deps, auction, caller.id)
