"""Reputation as it stands now, read from the incremental tallies (R4) in the caller's unit of
work: one indexed lookup per account for the decayed weights, one grouped count for the ratings
in the window, and for providers one grouped count of measured deliveries and service-level
breaches (R6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from commex.domain.accounts import Role
from commex.domain.reputation import WINDOW_DAYS, Reputation, reputation_of
from commex.domain.service_level import ServiceLevel
from commex.services.ports import Clock, UnitOfWork


class TallyReputations:
    """The :class:`~commex.services.ports.ReputationSource` of a running exchange."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def of(self, uow: UnitOfWork, account_id: str, role: Role) -> Reputation:
        return self.of_many(uow, [account_id], role)[account_id]

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]:
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return {}
        now = self._clock.now()
        since = now - timedelta(days=WINDOW_DAYS)
        tallies = uow.ratings.tallies(ids, role.value)
        counts = uow.ratings.recent_counts(ids, role.value, since)
        reps = {i: reputation_of(tallies.get(i), counts.get(i, 0), now) for i in ids}
        if role is Role.PROVIDER:
            levels = uow.contracts.service_levels(ids, since)
            none = ServiceLevel()
            reps = {i: replace(r, service=levels.get(i, none)) for i, r in reps.items()}
        return reps
