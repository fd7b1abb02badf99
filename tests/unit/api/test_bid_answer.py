"""A bid's answer is written from its fields on the hot path: it must be the very JSON the
general encoder makes of the bid's wire form, whatever the bid holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commex.api.wire.auctions import placed_bid, placed_bid_json
from commex.domain.accounts import Role
from commex.domain.auctions import Bid
from commex.domain.money import Money
from commex.domain.reputation import Reputation
from commex.domain.service_level import ServiceLevel
from commex.services.results import BidView, Party, PlacedBid

AT = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)


def _placed(
    name: str = "Harbour Family",
    max_amount: str | None = None,
    effective: Decimal | None = None,
    rank: int | None = None,
    active: bool = True,
    rep: Reputation | None = None,
) -> PlacedBid:
    bid = Bid(
        id="bid_01",
        auction_id="auc_01",
        bidder_id="acc_01",
        amount=Money.parse("12.50", "EUR"),
        max_amount=None if max_amount is None else Money.parse(max_amount, "EUR"),
        seq=3,
        created_at=AT,
        active=active,
    )
    party = Party("acc_01", name, Role.RECIPIENT, rep or Reputation(3.5, 0.25, 4))
    return PlacedBid(BidView(bid, party, effective, rank), Role.RECIPIENT)


@pytest.mark.parametrize(
    "placed",
    [
        _placed(),
        _placed(name='Ünïcode "quoted" \\ name\n\u2028', active=False),
        _placed(max_amount="40.00"),
        _placed(effective=Decimal("11.98765"), rank=2),
        _placed(rep=Reputation(1.0, 0.0, 1, service=ServiceLevel(4, 1, 4000, 100))),
    ],
)
def test_the_answer_is_the_json_of_the_wire_form(placed: PlacedBid) -> None:
    expected = json.dumps(
        placed_bid(placed), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    assert placed_bid_json(placed) == expected.encode()
    assert placed_bid_json(placed) == expected.encode()  # the bidder's part, now remembered


def test_a_bidder_whose_reputation_moved_is_answered_with_the_new_one() -> None:
    before = json.loads(placed_bid_json(_placed(rep=Reputation(1.0, 0.0, 1))))
    after = json.loads(placed_bid_json(_placed(rep=Reputation(1.0, 1.0, 2))))
    assert before["bidder"]["reputation"]["count"] == 1
    assert after["bidder"]["reputation"]["count"] == 2
