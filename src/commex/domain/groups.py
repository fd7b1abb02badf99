"""Groups of recipients that buy a service together (G1-G3): members, pledges, sponsorship.

A recipient creates a group and invites other recipient accounts. An invitee joins as a payer
with a pledge (the most it will pay) or as a non-payer, or declines. Payers may sponsor
non-payers; a non-payer nobody sponsors is shown as unsponsored. The group's reverse auction has
the payers' pledges, summed, as its ceiling, and its price is split among the payers by the
group's rule (:func:`commex.domain.billing.split_price`). While an auction of the group is under
way (open, or awarded and not yet charged) membership and pledges are fixed, so the ceiling
every bidder saw is what the payers owe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from commex.domain.accounts import Account, Role, check_name
from commex.domain.billing import SplitRule
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.money import Money, check_currency

MAX_MEMBERS = 50
MAX_GROUPS_LISTED = 200


class MemberState(StrEnum):
    """Where a member stands: invited (not answered yet), paying, or not paying."""

    INVITED = "invited"
    PAYER = "payer"
    NON_PAYER = "non-payer"


class Answer(StrEnum):
    """What a member says about its membership."""

    PAYER = "payer"
    NON_PAYER = "non-payer"
    DECLINE = "decline"
    LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class Group:
    """A group of recipients: its name, the currency its pledges are in and its split rule."""

    id: str
    name: str
    currency: str
    rule: SplitRule
    creator_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One account's place in a group. ``pledge`` is set for payers only; ``joined_at`` orders
    the payers (the split's ties go to the earlier-joined payer)."""

    group_id: str
    account_id: str
    state: MemberState
    pledge: Money | None
    invited_at: datetime
    joined_at: datetime | None = None

    @property
    def joined(self) -> bool:
        return self.state is not MemberState.INVITED

    @property
    def paying(self) -> bool:
        return self.state is MemberState.PAYER


@dataclass(frozen=True, slots=True)
class Sponsorship:
    """A payer sponsoring a non-payer of the same group."""

    group_id: str
    payer_id: str
    sponsored_id: str


@dataclass(frozen=True, slots=True)
class Change:
    """The result of an answer: the member as it now is (None once it has left or declined),
    and whether sponsorships naming it must go (it stopped paying, or stopped being sponsorable)."""

    member: GroupMember | None
    drop_sponsorships: bool


def parse_rule(value: object) -> SplitRule:
    """The split rule from wire data: ``proportional`` (the default) or ``equal``."""
    if value is None or value == "":
        return SplitRule.PROPORTIONAL
    try:
        return SplitRule(str(value))
    except ValueError as exc:
        choices = " or ".join(repr(r.value) for r in SplitRule)
        raise InvalidInput(
            f"split_rule must be {choices}, not {value!r}", field="split_rule"
        ) from exc


def parse_pledge(value: object, currency: str) -> Money:
    """A payer's pledge: a positive amount in the group's currency."""
    if value is None or value == "":
        raise InvalidInput(f'a payer states its pledge, such as "20.00" {currency}', field="pledge")
    pledge = Money.parse(value, currency, field="pledge")
    if pledge.amount <= 0:
        raise InvalidInput(f"pledge must be more than zero, not {pledge}", field="pledge")
    return pledge


def new_group(
    group_id: str,
    creator: Account,
    name: object,
    currency: object,
    rule: object,
    pledge: object,
    now: datetime,
) -> tuple[Group, GroupMember]:
    """A new group and its creator's membership: a payer when it pledges, else a non-payer."""
    if not creator.has(Role.RECIPIENT):
        raise Forbidden("a group is formed by recipients; you are not one")
    group = Group(
        group_id, check_name(name), check_currency(currency), parse_rule(rule), creator.id, now
    )
    if pledge is None or pledge == "":
        member = GroupMember(group_id, creator.id, MemberState.NON_PAYER, None, now, now)
    else:
        amount = parse_pledge(pledge, group.currency)
        member = GroupMember(group_id, creator.id, MemberState.PAYER, amount, now, now)
    return group, member


def check_sees(group: Group, members: Iterable[GroupMember], viewer: Account) -> GroupMember:
    """The viewer's membership; anyone else is told the group does not exist."""
    for m in members:
        if m.account_id == viewer.id:
            return m
    raise NotFound(f"group {group.id} not found")


def invite(
    group: Group,
    members: Sequence[GroupMember],
    inviter: Account,
    invitee: Account,
    under_way: str | None,
    now: datetime,
) -> GroupMember:
    """The creator invites a recipient account, up to :data:`MAX_MEMBERS` members."""
    check_sees(group, members, inviter)
    if inviter.id != group.creator_id:
        raise Forbidden("only the group's creator invites members")
    _check_settled(under_way, "invitations")
    if not invitee.has(Role.RECIPIENT):
        raise InvalidInput(
            f"account {invitee.id} is not a recipient: only recipients join groups",
            field="account_id",
        )
    if any(m.account_id == invitee.id for m in members):
        raise Conflict(f"account {invitee.id} is already in this group (or invited)")
    if len(members) >= MAX_MEMBERS:
        raise Conflict(
            f"a group has at most {MAX_MEMBERS} members and invitations; this one has "
            f"{len(members)}"
        )
    return GroupMember(group.id, invitee.id, MemberState.INVITED, None, now)


def answer(
    group: Group,
    members: Sequence[GroupMember],
    who: Account,
    reply: object,
    pledge: object,
    under_way: str | None,
    now: datetime,
) -> Change:
    """An invitee accepts (as a payer with a pledge, or a non-payer) or declines; a member
    changes its pledge, switches between paying and not, or leaves. Not while an auction of the
    group is under way; the creator cannot leave the group it owns the auctions of."""
    me = check_sees(group, members, who)
    try:
        said = Answer(str(reply))
    except ValueError as exc:
        choices = ", ".join(repr(a.value) for a in Answer)
        raise InvalidInput(f"answer must be one of {choices}, not {reply!r}", "answer") from exc
    _check_settled(under_way, "membership and pledges")
    if said is Answer.DECLINE:
        if me.joined:
            raise Conflict("you have already joined this group: to go, answer 'leave'")
        return Change(None, True)
    if said is Answer.LEAVE:
        if not me.joined:
            raise Conflict("you have not joined this group: to refuse, answer 'decline'")
        if who.id == group.creator_id:
            raise Forbidden("the group's creator cannot leave the group it opens auctions for")
        return Change(None, True)
    if pledge not in (None, "") and said is Answer.NON_PAYER:
        raise InvalidInput("a non-payer pledges nothing: leave pledge out", field="pledge")
    joined_at = me.joined_at or now
    if said is Answer.PAYER:
        amount = parse_pledge(pledge, group.currency)
        member = replace(me, state=MemberState.PAYER, pledge=amount, joined_at=joined_at)
    else:
        member = replace(me, state=MemberState.NON_PAYER, pledge=None, joined_at=joined_at)
    return Change(member, member.state is not me.state and me.joined)


def sponsor(
    group: Group,
    members: Sequence[GroupMember],
    payer: Account,
    sponsored_ids: Sequence[object],
) -> list[Sponsorship]:
    """The payer's sponsorships, replacing its earlier ones: each named account must be a
    non-payer member of the group."""
    me = check_sees(group, members, payer)
    if not me.paying:
        raise Forbidden("only a payer sponsors members; join as a payer with a pledge first")
    if len(sponsored_ids) > MAX_MEMBERS:
        raise InvalidInput(f"at most {MAX_MEMBERS} sponsored members", field="sponsored")
    by_id = {m.account_id: m for m in members}
    out: list[Sponsorship] = []
    for raw in sponsored_ids:
        sponsored = str(raw)
        found = by_id.get(sponsored)
        if found is None:
            raise InvalidInput(f"{sponsored} is not a member of this group", field="sponsored")
        if found.state is not MemberState.NON_PAYER:
            raise InvalidInput(
                f"{sponsored} is {'invited' if not found.joined else 'a payer'}: only members "
                "who joined as non-payers are sponsored",
                field="sponsored",
            )
        if any(s.sponsored_id == sponsored for s in out):
            continue
        out.append(Sponsorship(group.id, payer.id, sponsored))
    return out


def payers(members: Iterable[GroupMember]) -> list[tuple[str, Money]]:
    """The payers and their pledges in joining order (the order :func:`split_price` wants)."""
    paying = [m for m in members if m.paying and m.pledge is not None]
    paying.sort(key=lambda m: (m.joined_at or m.invited_at, m.account_id))
    return [(m.account_id, m.pledge) for m in paying if m.pledge is not None]


def ceiling(group: Group, members: Iterable[GroupMember]) -> Money:
    """What the group can pay: the sum of its payers' pledges."""
    total = Money.zero(group.currency)
    for _, pledge in payers(members):
        total = total + pledge
    return total


@dataclass(frozen=True, slots=True)
class GroupAuctionTerms:
    """What a group's reverse auction must be: reverse, in the group's currency, its ceiling at
    most (and by default) the payers' pledges, shared by at least every member who joined."""

    direction: str
    currency: str
    reserve: Money
    max_members: int


def group_auction(
    group: Group,
    members: Sequence[GroupMember],
    caller: Account,
    under_way: str | None,
    *,
    direction: object = None,
    currency: object = None,
    reserve: object = None,
    max_members: object = None,
) -> GroupAuctionTerms:
    """Check what the creator asks for the group's auction against the group, and fill in what
    it left out."""
    check_sees(group, members, caller)
    if caller.id != group.creator_id:
        raise Forbidden("only the group's creator opens the group's auction")
    if under_way is not None:
        raise Conflict(f"the group's auction {under_way} is under way: one at a time")
    top = ceiling(group, members)
    if top.amount <= 0:
        raise Conflict("the group has no payers yet: nobody has pledged anything to buy with")
    if direction not in (None, "reverse"):
        raise InvalidInput(
            "a group buys through a reverse auction: direction must be 'reverse'", "direction"
        )
    if currency not in (None, group.currency):
        raise InvalidInput(
            f"the group's pledges are in {group.currency}: currency must be {group.currency}",
            field="currency",
        )
    asked = top
    if reserve is not None and reserve != "":
        asked = Money.parse(reserve, group.currency, field="reserve")
        if asked > top:
            raise InvalidInput(
                f"reserve {reserve} {group.currency} is above what the payers pledged, "
                f"{top.display()}",
                field="reserve",
            )
    joined = sum(1 for m in members if m.joined)
    if max_members is None:
        max_members = joined
    elif isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < joined:
        raise InvalidInput(
            f"terms.max_members must be at least {joined}, the group's members, not {max_members}",
            field="terms.max_members",
        )
    return GroupAuctionTerms("reverse", group.currency, asked, max_members)


def _check_settled(under_way: str | None, what: str) -> None:
    if under_way is not None:
        raise Conflict(
            f"the group's auction {under_way} is under way: {what} may change once it has "
            "closed and been charged"
        )
