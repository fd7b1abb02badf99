"""What becomes of a block whose contract is cancelled after the close: the next qualifying
bid of a sealed forward auction takes it at its own bid; anything else is reported unsold. And
a contract ends once, saying how."""

from dataclasses import replace
from datetime import timedelta

import pytest

from commex.domain.contracts import ContractStatus, EndReason, end, use
from commex.domain.errors import Conflict
from commex.domain.events import AuctionReawarded, AuctionUnsold, ContractAwarded, ContractStarted
from commex.domain.reaward import after_cancellation, qualifying
from commex.domain.reputation import Reputation


def _won(kit, fmt="first-price", **kw):
    """A forward auction where A (50), C (48), D (45), B (30) and E (10) bid; A wins."""
    book = kit.book("forward", fmt, reserve="20.00", **kw)
    for who, amount in (("a", "50.00"), ("c", "48.00"), ("d", "45.00"), ("b", "30.00")):
        book.bid(who, amount)
    book.bid("e", "10.00")
    (contract,) = book.close().contracts
    return book, contract


def _cancelled(book, contract, reason=EndReason.NON_PAYMENT):
    return end(contract, reason, book.auction.closes_at + timedelta(days=3), "card_declined")


def test_the_next_qualifying_bid_takes_the_block_at_its_own_bid(kit):
    book, first = _won(kit)
    # C is suspended since the close, D belongs to A's owner, E is below the reserve.
    book.accounts["c"] = replace(book.accounts["c"], suspended_at=kit.t0)
    book.accounts["d"] = replace(book.accounts["d"], owner_id="a")
    candidates = qualifying(book.auction, book.active, book.accounts, {}, book.accounts["a"])
    assert [b.bidder_id for b in candidates] == ["b"]

    cancelled = _cancelled(book, first)
    done = after_cancellation(book.auction, cancelled, candidates, "con_next", cancelled.ended_at)

    assert done.contract is not None
    assert (done.contract.recipient_id, str(done.contract.price)) == ("b", "30.00")
    assert done.contract.status is ContractStatus.ACTIVE
    outcome = done.auction.outcome
    assert [(w.bidder_id, str(w.price), w.contract_id) for w in outcome.winners] == [
        ("b", "30.00", "con_next")
    ]
    assert [(d.bidder_id, d.contract_id, d.reason) for d in outcome.defaulted] == [
        ("a", first.id, EndReason.NON_PAYMENT)
    ]
    assert outcome.unsold == 0
    assert [type(e) for e in done.events] == [AuctionReawarded, ContractAwarded, ContractStarted]


def test_a_second_price_block_goes_on_at_the_next_bid_not_the_first_price(kit):
    book, first = _won(kit, fmt="second-price")
    assert str(first.price) == "48.00"  # A paid C's bid
    candidates = qualifying(book.auction, book.active, book.accounts, {}, book.accounts["a"])
    cancelled = _cancelled(book, first)
    done = after_cancellation(book.auction, cancelled, candidates, "con_next", cancelled.ended_at)
    assert (done.contract.recipient_id, str(done.contract.price)) == ("c", "48.00")


def test_winners_earlier_defaulters_and_the_sellers_own_never_qualify(kit):
    book, first = _won(kit)
    book.accounts["c"] = replace(book.accounts["c"], owner_id=book.owner.id)  # the seller's own
    candidates = qualifying(book.auction, book.active, book.accounts, {}, book.accounts["a"])
    assert [b.bidder_id for b in candidates] == ["d", "b"]  # A won; C is the seller's

    # D took the block; when it loses it too, neither A nor D qualifies any more.
    cancelled = _cancelled(book, first)
    again = after_cancellation(book.auction, cancelled, candidates, "con_d", cancelled.ended_at)
    later = qualifying(again.auction, book.active, book.accounts, {}, book.accounts["d"])
    assert [b.bidder_id for b in later] == ["b"]


def test_a_bidder_no_longer_eligible_is_passed_over(kit):
    book, _ = _won(kit, eligibility={"min_recipient_score": 0.4})
    poor = {"c": Reputation(0.0, 5.0, 5), "d": Reputation(5.0, 0.0, 5)}
    candidates = qualifying(book.auction, book.active, book.accounts, poor, book.accounts["a"])
    assert [b.bidder_id for b in candidates] == ["d", "b"]


@pytest.mark.parametrize(
    ("direction", "fmt", "why"),
    [
        ("forward", "english", "an english auction is not awarded again"),
        ("reverse", "first-price", "a reverse auction's buyer is its owner"),
    ],
)
def test_english_and_reverse_blocks_are_reported_unsold(kit, direction, fmt, why):
    extra = {"min_increment": "1.00"} if fmt == "english" else {}
    book = kit.book(direction, fmt, **extra)
    book.bid("x", "35.00")
    book.bid("y", "40.00" if fmt == "english" else "30.00")
    (contract,) = book.close().contracts
    cancelled = _cancelled(book, contract)
    done = after_cancellation(book.auction, cancelled, [], "con_unused", cancelled.ended_at)
    assert done.contract is None
    assert (done.auction.outcome.winners, done.auction.outcome.unsold) == ((), 1)
    (event,) = done.events
    assert isinstance(event, AuctionUnsold) and event.why.startswith(why)


def test_no_qualifying_bid_leaves_the_block_unsold(kit):
    book, first = _won(kit)
    cancelled = _cancelled(book, first)
    done = after_cancellation(book.auction, cancelled, [], "con_unused", cancelled.ended_at)
    (event,) = done.events
    assert isinstance(event, AuctionUnsold) and event.why == "no qualifying bid"
    assert done.auction.outcome.unsold == 1


def test_a_contract_ends_once_and_says_how(kit):
    _, contract = _won(kit)
    later = contract.created_at + timedelta(hours=2)
    done = end(contract, EndReason.WINDOW_ENDED, later)
    assert (done.status, done.completed_at, done.cancelled_at) == (
        ContractStatus.COMPLETED, later, None,
    )  # fmt: skip
    assert not done.in_force
    with pytest.raises(Conflict, match=r"was completed on .*: its window ended; it cannot end"):
        end(done, EndReason.OPERATOR, later, "too late")
    by_operator = end(contract, EndReason.OPERATOR, later, "fraud report", "op")
    assert (by_operator.status, by_operator.cancelled_at, by_operator.ended_by) == (
        ContractStatus.CANCELLED, later, "op",
    )  # fmt: skip


def test_using_up_the_block_completes_the_contract(kit):
    _, contract = _won(kit)
    now = contract.created_at + timedelta(minutes=5)
    partly = use(contract, 1000, now)
    assert partly.status is ContractStatus.ACTIVE and partly.ended_at is None
    full = use(contract, contract.terms.duration_s * 1000, now)
    assert (full.status, full.end_reason, full.completed_at) == (
        ContractStatus.COMPLETED, EndReason.USED_UP, now,
    )  # fmt: skip
