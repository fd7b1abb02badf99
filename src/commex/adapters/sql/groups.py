"""Groups of recipients: the groups, their members and sponsorships, and their auctions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, or_, select, update

from commex.adapters.sql import tables as t
from commex.domain.billing import SplitRule
from commex.domain.groups import Group, GroupMember, MemberState, Sponsorship
from commex.domain.money import Money
from commex.domain.time import from_micros, to_micros


def _group(r: Row[Any]) -> Group:
    return Group(
        r.id, r.name, r.currency, SplitRule(r.split_rule), r.creator_id, from_micros(r.created_us)
    )


class SqlGroups:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, group: Group) -> None:
        self._c.execute(
            t.groups.insert().values(
                id=group.id,
                name=group.name,
                currency=group.currency,
                split_rule=group.rule.value,
                creator_id=group.creator_id,
                created_us=to_micros(group.created_at),
            )
        )

    def get(self, group_id: str) -> Group | None:
        r = self._c.execute(select(t.groups).where(t.groups.c.id == group_id)).first()
        return None if r is None else _group(r)

    def lock(self, group_id: str) -> None:
        if self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises
            self._c.execute(
                select(t.groups.c.id).where(t.groups.c.id == group_id).with_for_update()
            )

    def of_account(self, account_id: str, limit: int) -> list[Group]:
        g, m = t.groups.c, t.group_members.c
        q = (
            select(t.groups)
            .join(t.group_members, m.group_id == g.id)
            .where(m.account_id == account_id)
            .order_by(g.created_us.desc(), g.id)
            .limit(limit)
        )
        return [_group(r) for r in self._c.execute(q)]

    def members(self, group_id: str) -> list[GroupMember]:
        m = t.group_members.c
        q = select(t.group_members, t.groups.c.currency).join(t.groups, t.groups.c.id == m.group_id)
        rows = self._c.execute(q.where(m.group_id == group_id).order_by(m.invited_us, m.account_id))
        return [
            GroupMember(
                r.group_id,
                r.account_id,
                MemberState(r.state),
                None if r.pledge_minor is None else Money.from_minor(r.pledge_minor, r.currency),
                from_micros(r.invited_us),
                None if r.joined_us is None else from_micros(r.joined_us),
            )
            for r in rows
        ]

    def put_member(self, member: GroupMember) -> None:
        self.remove_member(member.group_id, member.account_id)
        self._c.execute(
            t.group_members.insert().values(
                group_id=member.group_id,
                account_id=member.account_id,
                state=member.state.value,
                pledge_minor=None if member.pledge is None else member.pledge.to_minor(),
                invited_us=to_micros(member.invited_at),
                joined_us=None if member.joined_at is None else to_micros(member.joined_at),
            )
        )

    def remove_member(self, group_id: str, account_id: str) -> None:
        m = t.group_members.c
        self._c.execute(
            delete(t.group_members).where(and_(m.group_id == group_id, m.account_id == account_id))
        )

    def sponsorships(self, group_id: str) -> list[Sponsorship]:
        s = t.group_sponsors.c
        q = select(t.group_sponsors).where(s.group_id == group_id)
        rows = self._c.execute(q.order_by(s.payer_id, s.sponsored_id))
        return [Sponsorship(r.group_id, r.payer_id, r.sponsored_id) for r in rows]

    def set_sponsorships(self, group_id: str, payer_id: str, rows: Sequence[Sponsorship]) -> None:
        s = t.group_sponsors.c
        self._c.execute(
            delete(t.group_sponsors).where(and_(s.group_id == group_id, s.payer_id == payer_id))
        )
        if rows:
            self._c.execute(
                t.group_sponsors.insert(),
                [
                    {"group_id": r.group_id, "payer_id": r.payer_id, "sponsored_id": r.sponsored_id}
                    for r in rows
                ],
            )

    def drop_sponsorships(self, group_id: str, account_id: str) -> None:
        s = t.group_sponsors.c
        named = or_(s.payer_id == account_id, s.sponsored_id == account_id)
        self._c.execute(delete(t.group_sponsors).where(and_(s.group_id == group_id, named)))

    def link_auction(self, group_id: str, auction_id: str, now: datetime) -> None:
        self._c.execute(
            t.group_auctions.insert().values(
                auction_id=auction_id, group_id=group_id, created_us=to_micros(now), settled=False
            )
        )

    def group_of_auction(self, auction_id: str) -> str | None:
        a = t.group_auctions.c
        found = self._c.execute(select(a.group_id).where(a.auction_id == auction_id)).first()
        return None if found is None else str(found.group_id)

    def unsettled_auctions(self, group_id: str) -> list[str]:
        a = t.group_auctions.c
        q = select(a.auction_id).where(and_(a.group_id == group_id, a.settled.is_(False)))
        return [r.auction_id for r in self._c.execute(q.order_by(a.created_us))]

    def auctions_of(self, group_id: str) -> list[str]:
        a = t.group_auctions.c
        q = select(a.auction_id).where(a.group_id == group_id)
        return [r.auction_id for r in self._c.execute(q.order_by(a.created_us.desc()))]

    def settle_auction(self, auction_id: str) -> None:
        a = t.group_auctions.c
        self._c.execute(
            update(t.group_auctions).where(a.auction_id == auction_id).values(settled=True)
        )
