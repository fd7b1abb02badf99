"""In-memory groups and charges, over the tables of :class:`commex.adapters.memory.MemoryStore`
(kept apart from it so each module stays one concern). The store's lock is held by the unit of
work, so a conditional update here is as atomic as the database's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.charges import Charge, ChargeStatus, Payout
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict
from commex.domain.groups import Group, GroupMember, Sponsorship

if TYPE_CHECKING:
    from commex.adapters.memory import MemoryStore


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


class MemoryCharges:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, charges: Sequence[Charge]) -> None:
        for c in charges:
            if any(
                o.contract_id == c.contract_id and o.payer_id == c.payer_id
                for o in self._s.charges.values()
            ):
                raise Conflict("the change conflicts with data already stored")
            self._s.charges[c.id] = c

    def get(self, charge_id: str) -> Charge | None:
        return self._s.charges.get(charge_id)

    def swap(self, old: Charge, new: Charge) -> bool:
        stored = self._s.charges.get(old.id)
        if stored is None or stored.version != old.version:
            return False
        self._s.charges[old.id] = replace(new, version=old.version + 1)
        return True

    def for_contract(self, contract_id: str) -> list[Charge]:
        found = [c for c in self._s.charges.values() if c.contract_id == contract_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def of_payer(self, payer_id: str, limit: int) -> list[Charge]:
        found = [c for c in self._s.charges.values() if c.payer_id == payer_id]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)[:limit]

    def uncharged_contracts(self, limit: int) -> list[Contract]:
        charged = {c.contract_id for c in self._s.charges.values()}
        open_ = (ContractStatus.AWARDED, ContractStatus.ACTIVE)
        found = [c for c in self._s.contracts.values() if c.status in open_ and c.id not in charged]
        return sorted(found, key=lambda c: (c.created_at, c.id))[:limit]

    def due(self, now: datetime, limit: int) -> list[str]:
        out = []
        for c in self._s.charges.values():
            if c.status is not ChargeStatus.PENDING:
                continue
            if c.claimed_until is not None:
                ready = c.claimed_until <= now
            else:
                ready = c.next_attempt_at <= now or self._card_not_tried(c)
            if ready:
                out.append(c)
        out.sort(key=lambda c: (c.next_attempt_at, c.id))
        return [c.id for c in out[:limit]]

    def _card_not_tried(self, charge: Charge) -> bool:
        if charge.attempts == 0:
            return False
        return any(
            m.account_id == charge.payer_id and m.is_default and m.id != charge.last_card_id
            for m in self._s.payment_methods.values()
        )

    def add_payout(self, payout: Payout) -> None:
        self._s.payouts[payout.id] = payout

    def payouts_for_contract(self, contract_id: str) -> list[Payout]:
        ids = {c.id for c in self._s.charges.values() if c.contract_id == contract_id}
        found = [p for p in self._s.payouts.values() if p.charge_id in ids]
        return sorted(found, key=lambda p: (p.created_at, p.id))
