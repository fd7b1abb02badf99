"""The auction repository (an auction with its bids and their idempotency keys), on every
store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.auctions import EnglishState, Outcome, Status, Winner
from commex.domain.errors import Conflict
from commex.domain.money import Money
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, auction, bid, put_accounts


def test_an_auction_and_its_bids_round_trip(store: UnitOfWorkFactory) -> None:
    a = auction()
    bids = [
        bid("bid_1", "acc_r", 950, 1, max_amount=Money(Decimal(1500), "JPY")),
        bid("bid_2", "acc_s", 990, 2),
        bid("bid_3", "acc_r", 1000, 3, proxy=True),
    ]
    put_accounts(store, "acc_p", "acc_r", "acc_s")
    with store() as u:
        u.auctions.add(a)
        u.auctions.add_bids(bids)
        u.commit()
    with store(write=False) as u:
        assert u.auctions.get("auc_1") == a
        assert u.auctions.get("auc_9") is None
        assert u.auctions.bids("auc_1") == bids
        assert u.auctions.bids("auc_1", "acc_r") == [bids[0], bids[2]]
        assert u.auctions.bid("bid_3") == bids[2]
        assert u.auctions.bid("bid_9") is None
    outcome = Outcome((Winner("bid_3", "acc_r", bids[2].amount, None),), T0, "acc_p", None, "")
    closed = replace(a, status=Status.CLOSED, outcome=outcome, cancel_reason=None)
    with store() as u:
        assert u.auctions.get_for_update("auc_1") == a
        u.auctions.update(closed)
        u.auctions.deactivate_bids(["bid_1"])
        u.commit()
    with store(write=False) as u:
        assert u.auctions.get("auc_1") == closed
        assert [b.id for b in u.auctions.active_bids("auc_1")] == ["bid_2", "bid_3"]
        assert u.auctions.own_active_bid("auc_1", "acc_r") == bids[2]
        assert u.auctions.own_active_bid("auc_1", "acc_p") is None
        pairs = {("auc_1", "acc_r"), ("auc_1", "acc_s"), ("auc_1", "acc_p"), ("auc_9", "acc_r")}
        assert u.auctions.own_active_bids(pairs) == {
            ("auc_1", "acc_r"): bids[2],
            ("auc_1", "acc_s"): bids[1],
        }
        assert u.auctions.own_active_bids(set()) == {}


def test_due_and_pages_are_ordered(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_p")
    with store() as u:
        for i, minutes in enumerate((30, 10, 20)):
            u.auctions.add(
                auction(
                    id=f"auc_{i}",
                    closes_at=T0 + timedelta(minutes=minutes),
                    created_at=T0 + timedelta(seconds=i),
                    english=EnglishState(),
                    bid_count=0,
                    bid_seq=0,
                )
            )
        u.auctions.add(
            auction(id="auc_x", closes_at=T0, status=Status.CLOSED, english=EnglishState())
        )
        u.commit()
    with store(write=False) as u:
        assert u.auctions.due(T0 + timedelta(minutes=25), 10) == ["auc_1", "auc_2"]
        assert u.auctions.due(T0 + timedelta(hours=1), 1) == ["auc_1"]
        assert [a.id for a in u.auctions.page(Status.OPEN, 10, 0)] == ["auc_2", "auc_1", "auc_0"]
        assert [a.id for a in u.auctions.page(Status.OPEN, 1, 1)] == ["auc_1"]
        assert [a.id for a in u.auctions.page(Status.CLOSED, 10, 0)] == ["auc_x"]
        assert [a.id for a in u.auctions.page(None, 2, 0)] == ["auc_2", "auc_1"]
        assert [a.id for a in u.auctions.open_of_owner("acc_p")] == ["auc_0", "auc_1", "auc_2"]
        assert u.auctions.open_of_owner("acc_r") == []


def test_the_auctions_a_bidder_holds_an_active_bid_in(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_p", "acc_r")
    with store() as u:
        u.auctions.add(auction(id="auc_1", english=EnglishState()))
        u.auctions.add(auction(id="auc_2", english=EnglishState(), created_at=T0 + timedelta(1)))
        u.auctions.add(auction(id="auc_3", english=EnglishState(), status=Status.CLOSED))
        u.auctions.add_bids(
            [
                bid("bid_1", "acc_r", 10, 1, auction_id="auc_2"),
                bid("bid_2", "acc_r", 10, 1, auction_id="auc_1", active=False),
                bid("bid_3", "acc_r", 10, 1, auction_id="auc_3"),
            ]
        )
        u.commit()
    with store(write=False) as u:
        assert [a.id for a in u.auctions.open_bid_on_by("acc_r")] == ["auc_2"]
        assert u.auctions.open_bid_on_by("acc_p") == []


def test_bids_are_ranked_paged_and_listed_newest_first(store: UnitOfWorkFactory) -> None:
    amounts = [30, 10, 20, 10, 40]
    rows = [bid(f"bid_{i}", "acc_r", a, i) for i, a in enumerate(amounts, 1)]
    rows.append(bid("bid_6", "acc_s", 5, 6, active=False))
    put_accounts(store, "acc_p", "acc_r", "acc_s")
    with store() as u:
        u.auctions.add(auction(english=EnglishState()))
        u.auctions.add_bids(rows)
        u.commit()
    with store(write=False) as u:
        best = u.auctions.best_bids("auc_1", 3, highest_first=True)
        assert [b.id for b in best] == ["bid_5", "bid_1", "bid_3"]
        low = u.auctions.best_bids("auc_1", 3, highest_first=False)
        assert [b.id for b in low] == ["bid_2", "bid_4", "bid_3"]  # ties: the earlier bid first
        page = u.auctions.cheapest_bids_after("auc_1", None, 2)
        assert [b.id for b in page] == ["bid_2", "bid_4"]
        after = (page[-1].amount.to_minor(), page[-1].seq)
        assert [b.id for b in u.auctions.cheapest_bids_after("auc_1", after, 2)] == [
            "bid_3",
            "bid_1",
        ]
        assert [b.id for b in u.auctions.recent_bids("auc_1", 2)] == ["bid_6", "bid_5"]


def test_an_idempotency_key_holds_one_bid(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_p", "acc_r")
    with store() as u:
        u.auctions.add(auction(english=EnglishState()))
        u.auctions.add_bids([bid("bid_1", "acc_r", 10, 1), bid("bid_2", "acc_r", 11, 2)])
        u.auctions.add_bid_key("acc_r", "k-1", "fp-1", "bid_1", T0)
        u.commit()
    with store(write=False) as u:
        assert u.auctions.bid_key("acc_r", "k-1") == ("fp-1", "bid_1")
        assert u.auctions.bid_key("acc_p", "k-1") is None
    with pytest.raises(Conflict) as twice, store() as u:
        u.auctions.add_bid_key("acc_r", "k-1", "fp-2", "bid_2", T0)
        u.commit()
    assert twice.value.message == "this Idempotency-Key was used already"
    assert twice.value.field == "Idempotency-Key"
