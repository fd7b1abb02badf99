"""What members see of a group: every member's standing, who sponsors whom, the split rule,
and for each awarded auction each payer's share and how its charge stands; and the members a
group's contract is provided to (G3). Only members (and invitees) see a group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from commex.domain import groups as rules
from commex.domain.accounts import Role
from commex.domain.auctions import Status
from commex.domain.billing import split_price
from commex.domain.charges import Charge
from commex.domain.errors import NotFound
from commex.domain.groups import Group, GroupMember, Sponsorship
from commex.domain.money import Money
from commex.services import queries as q
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.results import GroupAuction, GroupView, MemberLine, Party, Share, party


def group_of(uow: UnitOfWork, group_id: str) -> tuple[Group, list[GroupMember]]:
    group = uow.groups.get(check_id("group", group_id))
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group, uow.groups.members(group.id)


def under_way(uow: UnitOfWork, group_id: str) -> str | None:
    """The group's auction that fixes its membership: open, or awarded and not yet charged."""
    for auction_id in uow.groups.unsettled_auctions(group_id):
        auction = uow.auctions.get(auction_id)
        if auction is None:
            continue
        if auction.status is Status.OPEN:
            return auction.id
        if auction.status is Status.CLOSED and auction.outcome and auction.outcome.winners:
            return auction.id
    return None


def show_group(query: q.ShowGroup, uow: UnitOfWork, deps: Deps) -> GroupView:
    return view_group(uow, deps, query.group_id, query.viewer_id)


def my_groups(query: q.MyGroups, uow: UnitOfWork, deps: Deps) -> list[Group]:
    return uow.groups.of_account(query.account_id, rules.MAX_GROUPS_LISTED)


def view_group(uow: UnitOfWork, deps: Deps, group_id: str, viewer_id: str) -> GroupView:
    """The group as ``viewer_id``, one of its members, sees it."""
    group, members = group_of(uow, group_id)
    me = rules.check_sees(group, members, account_of(uow, viewer_id))
    sponsors = uow.groups.sponsorships(group.id)
    auctions = [a for a in map(uow.auctions.get, uow.groups.auctions_of(group.id)) if a]
    contracts = {a.id: uow.contracts.for_auction(a.id) for a in auctions}
    charges = {k.id: uow.charges.for_contract(k.id) for ks in contracts.values() for k in ks}
    ids = {m.account_id for m in members} | {x.payer_id for xs in charges.values() for x in xs}
    people = _people(uow, deps, ids)
    lines = tuple(_line(m, people, sponsors) for m in _ordered(group, members))
    group_auctions = []
    for a in auctions:
        contract = next(iter(contracts.get(a.id, [])), None)
        shares: tuple[Share, ...] = ()
        if contract is not None:
            shares = _shares(group, members, contract.price, charges[contract.id], people)
        group_auctions.append(
            GroupAuction(
                a, contract.id if contract else None, contract.price if contract else None, shares
            )
        )
    ceiling = rules.ceiling(group, members)
    return GroupView(group, me, lines, ceiling, tuple(group_auctions), under_way(uow, group.id))


def provided_to(uow: UnitOfWork, deps: Deps, group_id: str) -> tuple[Group, tuple[MemberLine, ...]]:
    """The group and its joined members, each paying or sponsored and by whom, as a contract
    of the group shows them (G3); for callers that showed the viewer the contract already."""
    group, members = group_of(uow, group_id)
    sponsors = uow.groups.sponsorships(group.id)
    people = _people(uow, deps, {m.account_id for m in members})
    joined = [m for m in _ordered(group, members) if m.joined]
    return group, tuple(_line(m, people, sponsors) for m in joined)


def _people(uow: UnitOfWork, deps: Deps, ids: set[str]) -> dict[str, Party]:
    accounts = uow.accounts.get_many(ids)
    reps = deps.reputations.of_many(uow, ids, Role.RECIPIENT)
    paid = uow.charges.settled_counts(ids)
    return {i: party(accounts.get(i), i, Role.RECIPIENT, reps[i], paid) for i in ids}


def _ordered(group: Group, members: Sequence[GroupMember]) -> list[GroupMember]:
    """The creator first, then members in the order they were invited."""
    return sorted(members, key=lambda m: (m.account_id != group.creator_id, m.invited_at))


def _line(
    m: GroupMember, people: Mapping[str, Party], sponsors: Sequence[Sponsorship]
) -> MemberLine:
    by = tuple(people[s.payer_id] for s in sponsors if s.sponsored_id == m.account_id)
    of = tuple(people[s.sponsored_id] for s in sponsors if s.payer_id == m.account_id)
    return MemberLine(m, people[m.account_id], by, of)


def _shares(
    group: Group,
    members: Sequence[GroupMember],
    price: Money,
    charges: Sequence[Charge],
    people: Mapping[str, Party],
) -> tuple[Share, ...]:
    """Each payer's share: as charged once the charges exist, else as the rule splits it now."""
    pledges = rules.payers(members)
    if charges:
        order = {payer: i for i, (payer, _) in enumerate(pledges)}
        ranked = sorted(charges, key=lambda x: (order.get(x.payer_id, len(order)), x.payer_id))
        return tuple(Share(people[x.payer_id], x.amount, x) for x in ranked)
    if not pledges:
        return ()
    split = split_price(price, pledges, group.rule)
    return tuple(Share(people[p], amount, None) for p, amount in split.items())
