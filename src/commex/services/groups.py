"""Groups of recipients (G1-G3): forming one, membership, pledges, sponsorship, and the group's
reverse auction, opened through the exchange with its link to the group in the same transaction.

Only members (and invitees) see a group; anyone else is told it does not exist. The group's page
shows every member's standing, who sponsors whom, the split rule in words, and for each awarded
auction each payer's share and how its charge stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from commex.domain import groups as rules
from commex.domain.accounts import Role
from commex.domain.auctions import Auction, Status
from commex.domain.billing import describe, split_price
from commex.domain.charges import Charge
from commex.domain.errors import Conflict, NotFound
from commex.domain.groups import Group, GroupMember, MemberState, Sponsorship
from commex.domain.money import Money
from commex.services.exchange import Exchange
from commex.services.loading import account_of, check_id
from commex.services.ports import (
    Clock,
    IdGenerator,
    ReputationSource,
    UnitOfWork,
    UnitOfWorkFactory,
)
from commex.services.views import AuctionView, Party, party


@dataclass(frozen=True, slots=True)
class MemberLine:
    """A member as the group's page shows it: standing, pledge, payment reputation, and who
    sponsors it (or whom it sponsors)."""

    member: GroupMember
    party: Party
    sponsored_by: tuple[Party, ...]
    sponsoring: tuple[Party, ...]

    @property
    def unsponsored(self) -> bool:
        return self.member.state is MemberState.NON_PAYER and not self.sponsored_by

    def to_dict(self) -> dict[str, Any]:
        m = self.member
        return {
            "account": self.party.to_dict(),
            "state": m.state.value,
            "pledge": None if m.pledge is None else str(m.pledge),
            "joined_at": None if m.joined_at is None else m.joined_at.isoformat(),
            "sponsored_by": [p.to_dict() for p in self.sponsored_by],
            "sponsoring": [p.to_dict() for p in self.sponsoring],
            "unsponsored": self.unsponsored,
        }


@dataclass(frozen=True, slots=True)
class Share:
    """A payer's share of an awarded price, and its charge once it exists."""

    payer: Party
    amount: Money
    charge: Charge | None

    def to_dict(self) -> dict[str, Any]:
        c = self.charge
        return {
            "payer": self.payer.to_dict(),
            "amount": str(self.amount),
            "charge_id": None if c is None else c.id,
            "charge_status": "to be charged" if c is None else c.status.value,
        }


@dataclass(frozen=True, slots=True)
class GroupAuction:
    """One of the group's auctions, with its contract's price split among the payers."""

    auction: Auction
    contract_id: str | None
    price: Money | None
    shares: tuple[Share, ...]

    def to_dict(self) -> dict[str, Any]:
        a = self.auction
        return {
            "id": a.id,
            "title": a.title,
            "status": a.status.value,
            "closes_at": a.closes_at.isoformat(),
            "ceiling": None if a.reserve is None else str(a.reserve),
            "contract_id": self.contract_id,
            "price": None if self.price is None else str(self.price),
            "shares": [s.to_dict() for s in self.shares],
        }


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group as one of its members sees it."""

    group: Group
    me: GroupMember
    members: tuple[MemberLine, ...]
    ceiling: Money
    auctions: tuple[GroupAuction, ...]
    under_way: str | None

    @property
    def rule_text(self) -> str:
        return describe(self.group.rule)

    def to_dict(self) -> dict[str, Any]:
        g = self.group
        return {
            "id": g.id,
            "name": g.name,
            "currency": g.currency,
            "split_rule": g.rule.value,
            "split_rule_text": self.rule_text,
            "creator_id": g.creator_id,
            "created_at": g.created_at.isoformat(),
            "my_state": self.me.state.value,
            "ceiling": str(self.ceiling),
            "auction_under_way": self.under_way,
            "members": [m.to_dict() for m in self.members],
            "auctions": [a.to_dict() for a in self.auctions],
        }


@dataclass(frozen=True, slots=True)
class GroupBadge:
    """What every bidder of a group's auction sees of the group: who will pay."""

    id: str
    name: str
    payers: tuple[tuple[Party, Money], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "payers": [p.to_dict() | {"pledge": str(m)} for p, m in self.payers],
        }


class Groups:
    """Forming groups, membership, sponsorship and the group's auction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        exchange: Exchange,
        reputations: ReputationSource,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._exchange = exchange
        self._reps = reputations

    def create(
        self, creator_id: str, name: object, currency: object, rule: object, pledge: object
    ) -> GroupView:
        """Form a group; its creator joins as a payer when it pledges, else as a non-payer."""
        with self._uow() as uow:
            creator = account_of(uow, creator_id)
            group, me = rules.new_group(
                self._ids.new("grp"), creator, name, currency, rule, pledge, self._clock.now()
            )
            uow.groups.add(group)
            uow.groups.put_member(me)
            uow.commit()
        return self.view(group.id, creator_id)

    def mine(self, account_id: str) -> list[Group]:
        """The groups the account is in or invited to, newest first."""
        with self._uow(write=False) as uow:
            return uow.groups.of_account(account_id, rules.MAX_GROUPS_LISTED)

    def view(self, group_id: str, viewer_id: str) -> GroupView:
        with self._uow(write=False) as uow:
            group, members = _group(uow, group_id)
            me = rules.check_sees(group, members, account_of(uow, viewer_id))
            sponsors = uow.groups.sponsorships(group.id)
            auctions = [uow.auctions.get(a) for a in uow.groups.auctions_of(group.id)]
            contracts = {a.id: uow.contracts.for_auction(a.id) for a in auctions if a}
            charges = {
                c.id: uow.charges.for_contract(c.id) for cs in contracts.values() for c in cs
            }
            under_way = _under_way(uow, group.id)
            ids = {m.account_id for m in members}
            ids |= {c.payer_id for cs in charges.values() for c in cs}
            accounts = uow.accounts.get_many(ids)
        reps = self._reps.of_many(ids, Role.RECIPIENT)
        people = {i: party(accounts.get(i), i, Role.RECIPIENT, reps[i]) for i in ids}
        lines = tuple(_line(m, people, sponsors) for m in _ordered(group, members))
        group_auctions = []
        for a in auctions:
            if a is None:
                continue
            contract = next(iter(contracts.get(a.id, [])), None)
            shares: tuple[Share, ...] = ()
            if contract is not None:
                shares = _shares(group, members, contract.price, charges[contract.id], people)
            group_auctions.append(
                GroupAuction(
                    a,
                    contract.id if contract else None,
                    contract.price if contract else None,
                    shares,
                )
            )
        ceiling = rules.ceiling(group, members)
        return GroupView(group, me, lines, ceiling, tuple(group_auctions), under_way)

    def provided_to(self, group_id: str) -> tuple[Group, tuple[MemberLine, ...]]:
        """The group and its joined members, each paying or sponsored and by whom, as a
        contract of the group shows them (G3). For callers that already showed the viewer the
        contract; the group's own page goes through :meth:`view`."""
        with self._uow(write=False) as uow:
            group, members = _group(uow, group_id)
            sponsors = uow.groups.sponsorships(group.id)
            ids = {m.account_id for m in members}
            accounts = uow.accounts.get_many(ids)
        reps = self._reps.of_many(ids, Role.RECIPIENT)
        people = {i: party(accounts.get(i), i, Role.RECIPIENT, reps[i]) for i in ids}
        joined = [m for m in _ordered(group, members) if m.joined]
        return group, tuple(_line(m, people, sponsors) for m in joined)

    def invite(self, group_id: str, inviter_id: str, account_id: str) -> GroupMember:
        """The creator invites a recipient account."""
        with self._uow() as uow:
            uow.groups.lock(check_id("group", group_id))
            group, members = _group(uow, group_id)
            inviter = account_of(uow, inviter_id)
            rules.check_sees(group, members, inviter)
            invitee = account_of(uow, account_id)
            member = rules.invite(
                group, members, inviter, invitee, _under_way(uow, group.id), self._clock.now()
            )
            uow.groups.put_member(member)
            uow.commit()
        return member

    def answer(
        self, group_id: str, account_id: str, reply: object, pledge: object
    ) -> GroupView | None:
        """Accept (as a payer with a pledge, or a non-payer), decline, change, or leave; the
        group as the member now sees it, or None once it has left or declined."""
        with self._uow() as uow:
            uow.groups.lock(check_id("group", group_id))
            group, members = _group(uow, group_id)
            who = account_of(uow, account_id)
            change = rules.answer(
                group, members, who, reply, pledge, _under_way(uow, group.id), self._clock.now()
            )
            if change.drop_sponsorships:
                uow.groups.drop_sponsorships(group.id, who.id)
            if change.member is None:
                uow.groups.remove_member(group.id, who.id)
            else:
                uow.groups.put_member(change.member)
            uow.commit()
        if change.member is None:
            return None
        return self.view(group.id, account_id)

    def sponsor(self, group_id: str, payer_id: str, sponsored: Sequence[object]) -> GroupView:
        """Set whom the payer sponsors (replacing its earlier choice)."""
        with self._uow() as uow:
            uow.groups.lock(check_id("group", group_id))
            group, members = _group(uow, group_id)
            rows = rules.sponsor(group, members, account_of(uow, payer_id), sponsored)
            uow.groups.set_sponsorships(group.id, payer_id, rows)
            uow.commit()
        return self.view(group.id, payer_id)

    def open_auction(self, group_id: str, caller_id: str, request: Mapping[str, Any]) -> Auction:
        """Open the group's reverse auction: its ceiling is the payers' pledges. The pledges are
        checked again, under the group's lock, in the transaction that opens the auction."""
        with self._uow(write=False) as uow:
            group, members = _group(uow, group_id)
            caller = account_of(uow, caller_id)
            wanted = rules.auction_request(
                group, members, caller, request, _under_way(uow, group.id)
            )

        def link(uow: UnitOfWork, auction: Auction) -> None:
            uow.groups.lock(group.id)
            now_members = uow.groups.members(group.id)
            busy = _under_way(uow, group.id)
            if busy is not None:
                raise Conflict(f"the group's auction {busy} is under way: one at a time")
            top = rules.ceiling(group, now_members)
            if auction.reserve is None or auction.reserve > top:
                raise Conflict(
                    f"the pledges changed while the auction was opening: they now add up to "
                    f"{top.display()}; please try again"
                )
            uow.groups.link_auction(group.id, auction.id, auction.created_at)

        return self._exchange.create_auction(caller_id, wanted, on_open=link)

    def badge(self, auction_id: str) -> GroupBadge | None:
        """The group behind an auction, with its payers and their payment reputation."""
        with self._uow(write=False) as uow:
            group_id = uow.groups.group_of_auction(auction_id)
            if group_id is None:
                return None
            group, members = _group(uow, group_id)
            pledges = rules.payers(members)
            accounts = uow.accounts.get_many({p for p, _ in pledges})
        reps = self._reps.of_many({p for p, _ in pledges}, Role.RECIPIENT)
        payers = tuple(
            (party(accounts.get(p), p, Role.RECIPIENT, reps[p]), pledge) for p, pledge in pledges
        )
        return GroupBadge(group.id, group.name, payers)

    def with_group(self, view: AuctionView) -> AuctionView:
        """The auction's view with its group, if a group runs it."""
        badge = self.badge(view.auction.id)
        return view if badge is None else replace(view, group=badge.to_dict())


def _group(uow: UnitOfWork, group_id: str) -> tuple[Group, list[GroupMember]]:
    group = uow.groups.get(check_id("group", group_id))
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group, uow.groups.members(group.id)


def _under_way(uow: UnitOfWork, group_id: str) -> str | None:
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
        ranked = sorted(charges, key=lambda c: (order.get(c.payer_id, len(order)), c.payer_id))
        return tuple(Share(people[c.payer_id], c.amount, c) for c in ranked)
    if not pledges:
        return ()
    split = split_price(price, pledges, group.rule)
    return tuple(Share(people[p], amount, None) for p, amount in split.items())
