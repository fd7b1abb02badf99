"""In-memory groups with their members, sponsorships and auctions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.groups import Group, GroupMember, Sponsorship

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryGroups:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, group: Group) -> None:
        self._s.groups[group.id] = group

    def get(self, group_id: str) -> Group | None:
        return self._s.groups.get(group_id)

    def lock(self, group_id: str) -> None:
        return None  # the unit of work holds the store's lock

    def of_account(self, account_id: str, limit: int) -> list[Group]:
        ids = {g for g, a in self._s.group_members if a == account_id}
        found = [self._s.groups[g] for g in ids if g in self._s.groups]
        return sorted(found, key=lambda g: (-g.created_at.timestamp(), g.id))[:limit]

    def members(self, group_id: str) -> list[GroupMember]:
        found = [m for (g, _), m in self._s.group_members.items() if g == group_id]
        return sorted(found, key=lambda m: (m.invited_at, m.account_id))

    def put_member(self, member: GroupMember) -> None:
        self._s.group_members[(member.group_id, member.account_id)] = member

    def remove_member(self, group_id: str, account_id: str) -> None:
        self._s.group_members.pop((group_id, account_id), None)

    def sponsorships(self, group_id: str) -> list[Sponsorship]:
        found = [s for s in self._s.group_sponsors.values() if s.group_id == group_id]
        return sorted(found, key=lambda s: (s.payer_id, s.sponsored_id))

    def set_sponsorships(self, group_id: str, payer_id: str, rows: Sequence[Sponsorship]) -> None:
        for key in [k for k in self._s.group_sponsors if k[0] == group_id and k[1] == payer_id]:
            del self._s.group_sponsors[key]
        for r in rows:
            self._s.group_sponsors[(r.group_id, r.payer_id, r.sponsored_id)] = r

    def drop_sponsorships(self, group_id: str, account_id: str) -> None:
        gone = [k for k in self._s.group_sponsors if k[0] == group_id and account_id in k[1:]]
        for key in gone:
            del self._s.group_sponsors[key]

    def link_auction(self, group_id: str, auction_id: str, now: datetime) -> None:
        self._s.group_auctions[auction_id] = (group_id, now, False)

    def group_of_auction(self, auction_id: str) -> str | None:
        found = self._s.group_auctions.get(auction_id)
        return None if found is None else found[0]

    def unsettled_auctions(self, group_id: str) -> list[str]:
        rows = [
            (t, a) for a, (g, t, s) in self._s.group_auctions.items() if g == group_id and not s
        ]
        return [a for _, a in sorted(rows)]

    def auctions_of(self, group_id: str) -> list[str]:
        rows = [(t, a) for a, (g, t, _) in self._s.group_auctions.items() if g == group_id]
        return [a for _, a in sorted(rows, reverse=True)]

    def settle_auction(self, auction_id: str) -> None:
        found = self._s.group_auctions.get(auction_id)
        if found is not None:
            self._s.group_auctions[auction_id] = (found[0], found[1], True)
