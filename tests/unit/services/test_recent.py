"""A bid's answer may show its bidder's reputation as read up to a second before, never older;
a bidder first seen is read fresh."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from commex.domain.accounts import Role
from commex.domain.reputation import Reputation
from commex.services.ports import UnitOfWork
from commex.services.recent import RecentReputations


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Reputations whose positive count is what the test set; every read is noted."""

    def __init__(self) -> None:
        self.positive: dict[str, float] = {}
        self.reads: list[list[str]] = []

    def of(self, uow: UnitOfWork, account_id: str, role: Role) -> Reputation:
        return self.of_many(uow, [account_id], role)[account_id]

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]:
        ids = list(account_ids)
        self.reads.append(ids)
        return {i: Reputation(self.positive.get(i, 0.0), 0.0, 1, 365) for i in ids}


UOW = None  # the fake source never touches the unit of work


def test_a_reputation_is_reused_for_less_than_a_second_then_read_again() -> None:
    source, clock = Source(), Clock()
    recent = RecentReputations(source, clock)
    source.positive["a"] = 1.0
    assert recent.of_many(UOW, ["a"], Role.RECIPIENT)["a"].positive == 1.0  # type: ignore[arg-type]
    source.positive["a"] = 5.0
    clock.now += 0.99
    seen = recent.of_many(UOW, ["a", "b"], Role.RECIPIENT)  # type: ignore[arg-type]
    assert (seen["a"].positive, seen["b"].positive) == (1.0, 0.0)
    assert source.reads == [["a"], ["b"]]  # only the bidder not seen before was read
    clock.now += 0.01
    assert recent.of_many(UOW, ["a"], Role.RECIPIENT)["a"].positive == 5.0  # type: ignore[arg-type]


def test_each_role_is_its_own_reputation() -> None:
    source, clock = Source(), Clock()
    recent = RecentReputations(source, clock)
    recent.of_many(UOW, ["a"], Role.RECIPIENT)  # type: ignore[arg-type]
    recent.of_many(UOW, ["a"], Role.PROVIDER)  # type: ignore[arg-type]
    assert source.reads == [["a"], ["a"]]


def test_no_more_than_a_second() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        RecentReputations(Source(), Clock(), ttl_s=1.5)
