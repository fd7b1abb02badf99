"""The rating repository (ratings with the reputation tallies they move), on every store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commex.domain.errors import Conflict
from commex.domain.ratings import RatedRole, Rating
from commex.domain.reputation import PairTally, Tally
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, contract, put_auction_world


def _rating(i: int, rated: str, role: RatedRole, rater: str, days: int = 0) -> Rating:
    return Rating(
        f"rat_{i}",
        "con_1",
        rated,
        role,
        rater,
        rater,
        None,
        True,
        5,
        "fine",
        T0 + timedelta(days=days),
    )


def test_ratings_are_kept_counted_and_given_once(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract())
    rows = [
        _rating(2, "acc_p", RatedRole.PROVIDER, "acc_r", days=1),
        _rating(1, "acc_r", RatedRole.RECIPIENT, "acc_p"),
    ]
    with store() as u:
        for r in rows:
            u.ratings.add(r)
        u.commit()
    with store(write=False) as u:
        assert u.ratings.of_contract("con_1") == [rows[1], rows[0]]
        assert u.ratings.of_contract("con_9") == []
        assert u.ratings.exists("con_1", "provider", "acc_r")
        assert not u.ratings.exists("con_1", "provider", "acc_p")
        assert u.ratings.recent_counts(["acc_p", "acc_r", "acc_s"], "provider", T0) == {"acc_p": 1}
        assert u.ratings.recent_counts(["acc_p"], "provider", T0 + timedelta(days=2)) == {}
    with pytest.raises(Conflict) as twice, store() as u:
        u.ratings.add(_rating(3, "acc_p", RatedRole.PROVIDER, "acc_r"))
        u.commit()
    assert twice.value.message == "you have already rated this contract"


def test_tallies_and_pairs_are_replaced(store: UnitOfWorkFactory) -> None:
    put_auction_world(store)
    with store() as u:
        u.ratings.put_tally("acc_p", "provider", Tally(1.0, 0.0, T0))
        u.ratings.put_tally("acc_p", "provider", Tally(2.5, 0.5, T0 + timedelta(days=1)))
        u.ratings.put_tally("acc_p", "recipient", Tally(0.0, 1.0, T0))
        u.ratings.put_pair("acc_p", "provider", "acc_r", PairTally(1.0, T0))
        u.ratings.put_pair("acc_p", "provider", "acc_r", PairTally(1.5, T0 + timedelta(days=1)))
        u.commit()
    with store(write=False) as u:
        assert u.ratings.tallies(["acc_p", "acc_r"], "provider") == {
            "acc_p": Tally(2.5, 0.5, T0 + timedelta(days=1))
        }
        assert u.ratings.pair("acc_p", "provider", "acc_r") == PairTally(
            1.5, T0 + timedelta(days=1)
        )
        assert u.ratings.pair("acc_p", "recipient", "acc_r") is None
