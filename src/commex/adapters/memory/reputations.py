"""Reputation sources for tests and experiments: none yet, or set by hand."""

from __future__ import annotations

from collections.abc import Iterable

from commex.domain.accounts import Role
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.services.ports import UnitOfWork


class NoRatingsYet:
    """The reputation source until ratings exist: every account has "no ratings yet"."""

    def of(self, uow: UnitOfWork, account_id: str, role: Role) -> Reputation:
        return NO_RATINGS

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]:
        return dict.fromkeys(account_ids, NO_RATINGS)


class FixedReputations:
    """Reputations set by hand (tests, demos); unknown accounts have none yet."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, Role], Reputation] = {}

    def set(self, account_id: str, role: Role, rep: Reputation) -> None:
        self.table[(account_id, role)] = rep

    def of(self, uow: UnitOfWork, account_id: str, role: Role) -> Reputation:
        return self.table.get((account_id, role), NO_RATINGS)

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]:
        return {i: self.table.get((i, role), NO_RATINGS) for i in account_ids}
