"""Ratings with the reputation tallies they move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from commex.domain.errors import Conflict
from commex.domain.ratings import Rating
from commex.domain.reputation import PairTally, Tally


def already_rated() -> Conflict:
    """How every rating repository refuses a second rating by one rater of one side."""
    return Conflict("you have already rated this contract")


class RatingRepository(Protocol):
    def add(self, rating: Rating) -> None:
        """Store a rating; a second one by the same rater of the same side raises Conflict
        ``you have already rated this contract``."""
        ...

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool: ...

    def of_contract(self, contract_id: str) -> list[Rating]:
        """The contract's ratings, oldest first."""
        ...

    def get(self, rating_id: str) -> Rating | None: ...

    def hide(self, rating_id: str, at: datetime, reason: str) -> None:
        """Mark the rating hidden by the operator (it stays stored)."""
        ...

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        """How many ratings each account received in ``role`` since ``since`` (one query),
        counting neither hidden ratings nor ratings that carried no weight; accounts with none
        are left out."""
        ...

    def monthly(
        self, account_id: str, role: str, bounds: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        """(positive, negative) ratings the account received in ``role`` between each pair of
        consecutive ``bounds`` (one query, however many periods)."""
        ...

    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]:
        """The decayed weights of each account's ratings in ``role``; accounts never rated
        are left out."""
        ...

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None:
        """The weight one counterparty has added to the account's reputation in ``role``."""
        ...

    def put_tally(self, account_id: str, role: str, tally: Tally) -> None: ...

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None: ...
