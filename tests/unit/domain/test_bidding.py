"""Accepting a bid: role, own auction, close time, eligibility (A6), ceiling (A4), amounts,
and the sealed bidder's replacement rule (A8)."""

from dataclasses import replace
from datetime import timedelta

import pytest

from commex.domain.accounts import Role
from commex.domain.auctions import Status, evolve
from commex.domain.errors import (
    AuctionNotOpen,
    BidRejected,
    Forbidden,
    InvalidInput,
    NotEligible,
)
from commex.domain.reputation import Reputation

GOOD = Reputation(positive=40, negative=0, count=40)  # score ~0.98
POOR = Reputation(positive=1, negative=9, count=10)  # score 2/12 ~0.17


def test_a_sealed_bid_is_recorded_and_counted(kit):
    book = kit.book("forward", "first-price")
    bid = book.bid("alice", "10.00")
    assert bid.bidder_id == "alice"
    assert str(bid.amount) == "10.00"
    assert bid.max_amount is None
    assert bid.created_at == book.now
    assert book.auction.bid_count == 1
    book.bid("bob", "11.00")
    assert book.auction.bid_count == 2


def test_no_bid_on_own_auction(kit):
    both = kit.account("both", Role.PROVIDER, Role.RECIPIENT)
    book = kit.book("forward", owner=both)
    with pytest.raises(Forbidden, match="own auction"):
        book.bid(both, "10.00")
    assert book.auction.bid_count == 0


@pytest.mark.parametrize(
    ("direction", "role"), [("forward", Role.PROVIDER), ("reverse", Role.RECIPIENT)]
)
def test_the_wrong_role_may_not_bid(kit, direction, role):
    book = kit.book(direction)
    with pytest.raises(Forbidden) as err:
        book.bid(kit.account("x", role), "10.00")
    assert not isinstance(err.value, NotEligible)
    with pytest.raises(Forbidden):
        book.bid(kit.operator, "10.00")


def test_no_bid_at_or_after_the_close_time(kit):
    book = kit.book()
    book.bid("alice", "10.00", at=book.auction.closes_at - timedelta(microseconds=1))
    with pytest.raises(AuctionNotOpen):
        book.bid("bob", "11.00", at=book.auction.closes_at)
    with pytest.raises(AuctionNotOpen):
        book.bid("bob", "11.00", at=book.auction.closes_at + timedelta(hours=1))
    assert book.auction.bid_count == 1


def test_no_bid_after_close_or_cancel(kit):
    closed = kit.book()
    closed.bid("alice", "10.00")
    closed.close()
    with pytest.raises(AuctionNotOpen):
        closed.bid("bob", "12.00", at=kit.t0)
    cancelled = kit.book()
    cancelled.cancel("seller")
    with pytest.raises(AuctionNotOpen):
        cancelled.bid("bob", "12.00")


@pytest.mark.parametrize("amount", ["0.00", "-1.00"])
def test_amount_must_be_positive(kit, amount):
    with pytest.raises(BidRejected) as err:
        kit.book().bid("alice", amount)
    assert err.value.field == "amount"


def test_amount_must_be_in_the_auction_currency(kit):
    with pytest.raises(BidRejected) as err:
        kit.book().bid("alice", kit.money("10.00", "USD"))
    assert err.value.field == "amount"
    assert isinstance(err.value, InvalidInput)


def test_a_proxy_limit_is_refused_in_a_sealed_auction(kit):
    with pytest.raises(BidRejected) as err:
        kit.book("forward", "second-price").bid("alice", "10.00", "20.00")
    assert err.value.field == "max_amount"


class TestCeiling:
    """A4: a reverse auction's ceiling is the most the recipient pays."""

    def test_a_bid_above_the_ceiling_is_refused(self, kit):
        book = kit.book("reverse", "first-price", reserve="100.00")
        with pytest.raises(BidRejected, match=r"100\.00") as err:
            book.bid("p1", "100.01")
        assert err.value.field == "amount"
        assert book.auction.bid_count == 0

    def test_a_bid_at_the_ceiling_is_accepted_and_can_win(self, kit):
        book = kit.book("reverse", "first-price", reserve="100.00")
        book.bid("p1", "100.00")
        assert book.prices(book.close()) == {"p1": "100.00"}

    def test_english_reverse_refuses_a_first_bid_above_the_ceiling(self, kit):
        book = kit.book("reverse", "english", reserve="50.00")
        with pytest.raises(BidRejected):
            book.bid("p1", "60.00", "40.00")


class TestEligibility:
    """A6: a bid that fails the owner's requirements is refused with the reason."""

    def test_min_provider_score(self, kit):
        book = kit.book("reverse", eligibility={"min_provider_score": 0.6})
        with pytest.raises(NotEligible, match=r"0\.17.*0\.60"):
            book.bid("p1", "10.00", rep=POOR)
        with pytest.raises(NotEligible):
            book.bid("p2", "10.00")  # no ratings yet: score 0.5
        book.bid("p3", "10.00", rep=GOOD)
        assert book.auction.bid_count == 1

    def test_min_recipient_score(self, kit):
        book = kit.book("forward", eligibility={"min_recipient_score": 0.6})
        with pytest.raises(NotEligible, match="payment reputation"):
            book.bid("alice", "10.00", rep=POOR)
        book.bid("bob", "10.00", rep=GOOD)
        assert [b.bidder_id for b in book.active] == ["bob"]

    def test_approved_providers_only(self, kit):
        book = kit.book("reverse", eligibility={"approved_providers": ["p1"]})
        with pytest.raises(NotEligible, match="pre-approved") as err:
            book.bid("p2", "10.00", rep=GOOD)
        assert isinstance(err.value, Forbidden)
        book.bid("p1", "10.00")
        assert book.auction.bid_count == 1

    def test_not_eligible_is_a_forbidden_error_with_a_reason(self, kit):
        book = kit.book("reverse", eligibility={"min_provider_score": 0.9})
        with pytest.raises(NotEligible) as err:
            book.bid("p1", "10.00")
        assert err.value.code == "not_eligible"
        assert err.value.message


class TestSealedReplacement:
    """A sealed bidder's newer bid replaces its earlier one: only the newest counts."""

    def test_the_newer_bid_replaces_the_older(self, kit):
        book = kit.book("forward", "first-price")
        first = book.bid("alice", "10.00")
        result = book.place("alice", "8.00")
        assert result.superseded == (first.id,)
        assert book.auction.bid_count == 1
        assert [(b.bidder_id, str(b.amount)) for b in book.active] == [("alice", "8.00")]
        assert not book.rows[first.id].active

    def test_only_the_newest_bid_is_awarded(self, kit):
        book = kit.book("forward", "first-price")
        book.bid("alice", "50.00")
        book.bid("bob", "20.00")
        book.bid("alice", "10.00")
        assert book.auction.bid_count == 2
        assert book.prices(book.close()) == {"bob": "20.00"}

    def test_a_replaced_bid_loses_its_place_in_a_tie(self, kit):
        book = kit.book("forward", "first-price")
        book.bid("alice", "10.00")
        book.bid("bob", "10.00")
        book.bid("alice", "10.00")  # re-placed after bob: now later than bob's
        assert book.prices(book.close()) == {"bob": "10.00"}


def test_an_evolved_auction_is_the_replaced_one(kit):
    auction = kit.book("reverse", "english").auction
    changes = {"bid_seq": 7, "bid_count": 3, "status": Status.CLOSED, "owner_group": "grp_1"}
    assert evolve(auction, **changes) == replace(auction, **changes)
    assert evolve(auction) == auction
    with pytest.raises(KeyError):
        evolve(auction, no_such_field=1)
