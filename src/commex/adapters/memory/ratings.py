"""In-memory ratings and the reputation tallies they move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.ratings import Rating
from commex.domain.reputation import PairTally, Tally
from commex.services.ports.ratings import already_rated

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryRatings:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, rating: Rating) -> None:
        if self.exists(rating.contract_id, rating.rated_role.value, rating.rater_key):
            raise already_rated()
        self._s.ratings[rating.id] = rating

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool:
        return any(
            r.contract_id == contract_id and r.rated_role.value == role and r.rater_key == rater_key
            for r in self._s.ratings.values()
        )

    def of_contract(self, contract_id: str) -> list[Rating]:
        found = [r for r in self._s.ratings.values() if r.contract_id == contract_id]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def monthly(
        self, account_id: str, role: str, bounds: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        out = [(0, 0)] * (len(bounds) - 1)
        for r in self._s.ratings.values():
            if r.rated_id != account_id or r.rated_role.value != role:
                continue
            if r.hidden_at is not None or r.worth <= 0:  # out of the reputation too
                continue
            for i in range(len(bounds) - 1):
                if bounds[i] <= r.created_at < bounds[i + 1]:
                    good, bad = out[i]
                    out[i] = (good + 1, bad) if r.satisfied else (good, bad + 1)
        return out

    def get(self, rating_id: str) -> Rating | None:
        return self._s.ratings.get(rating_id)

    def hide(self, rating_id: str, at: datetime, reason: str) -> None:
        found = self._s.ratings[rating_id]
        self._s.ratings[rating_id] = replace(found, hidden_at=at, hidden_reason=reason)

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        wanted = set(account_ids)
        counts: dict[str, int] = {}
        for r in self._s.ratings.values():
            if (
                r.rated_id in wanted
                and r.rated_role.value == role
                and r.created_at >= since
                and r.hidden_at is None
                and r.worth > 0
            ):
                counts[r.rated_id] = counts.get(r.rated_id, 0) + 1
        return counts

    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]:
        return {a: self._s.tallies[(a, role)] for a in account_ids if (a, role) in self._s.tallies}

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None:
        return self._s.pairs.get((account_id, role, counterparty))

    def put_tally(self, account_id: str, role: str, tally: Tally) -> None:
        self._s.tallies[(account_id, role)] = tally

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None:
        self._s.pairs[(account_id, role, counterparty)] = pair
