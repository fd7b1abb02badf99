"""A3 english: minimum increment, proxy bidding in both directions, soft close, reserve."""

from datetime import timedelta

import pytest

from commex.domain.errors import BidRejected


def rows(result):
    return [(b.bidder_id, str(b.amount), b.proxy) for b in result.new_bids]


def standing(book):
    st = book.auction.english
    return st.leader_id, str(st.price)


@pytest.fixture
def forward(kit):
    return kit.book("forward", "english", min_increment="1.00")


@pytest.fixture
def reverse(kit):
    return kit.book("reverse", "english", min_increment="1.00", reserve="100.00")


class TestForward:
    def test_the_first_bid_leads_at_its_amount_not_its_limit(self, forward):
        forward.bid("alice", "10.00", "30.00")
        assert standing(forward) == ("alice", "10.00")

    def test_minimum_increment_is_enforced_with_a_message(self, forward):
        forward.bid("alice", "10.00")
        with pytest.raises(BidRejected) as err:
            forward.bid("bob", "10.99")
        assert err.value.field == "amount"
        assert "11.00" in err.value.message
        assert "increment" in err.value.message
        forward.bid("bob", "11.00")
        assert standing(forward) == ("bob", "11.00")

    def test_a_challenger_below_the_proxy_limit_is_answered(self, forward):
        forward.bid("alice", "10.00", "30.00")
        result = forward.place("bob", "11.00")
        # bob's bid is recorded, then the exchange bids for alice one increment above it
        assert rows(result) == [("bob", "11.00", False), ("alice", "12.00", True)]
        assert standing(forward) == ("alice", "12.00")
        assert forward.auction.bid_count == 3

    def test_a_challenger_with_a_limit_below_the_leaders_is_answered_above_that_limit(
        self, forward
    ):
        forward.bid("alice", "10.00", "30.00")
        result = forward.place("bob", "11.00", "20.00")
        assert rows(result) == [("bob", "20.00", False), ("alice", "21.00", True)]
        assert standing(forward) == ("alice", "21.00")

    def test_the_answer_never_exceeds_the_leaders_limit_and_ties_stay_with_the_leader(
        self, forward
    ):
        forward.bid("alice", "10.00", "30.00")
        forward.bid("bob", "30.00")
        assert standing(forward) == ("alice", "30.00")
        assert forward.auction.english.limit == forward.money("30.00")

    def test_a_challenger_above_the_limit_takes_the_lead_at_limit_plus_increment(self, forward):
        forward.bid("alice", "10.00", "30.00")
        result = forward.place("carol", "13.00", "40.00")
        assert rows(result) == [("alice", "30.00", True), ("carol", "31.00", False)]
        assert standing(forward) == ("carol", "31.00")
        assert forward.auction.english.limit == forward.money("40.00")

    def test_a_challenger_just_above_the_limit_pays_no_more_than_its_own_limit(self, forward):
        forward.bid("alice", "10.00", "30.00")
        forward.bid("carol", "13.00", "30.50")
        assert standing(forward) == ("carol", "30.50")

    def test_a_plain_bid_above_the_limit_stands_at_its_amount(self, forward):
        forward.bid("alice", "10.00", "30.00")
        forward.bid("carol", "45.00")
        assert standing(forward) == ("carol", "45.00")

    def test_the_winner_pays_its_standing_price(self, forward):
        forward.bid("alice", "10.00", "30.00")
        forward.bid("carol", "13.00", "40.00")
        assert forward.prices(forward.close()) == {"carol": "31.00"}

    def test_the_leader_raises_its_own_limit_without_raising_the_price(self, forward):
        forward.bid("alice", "10.00", "30.00")
        forward.bid("bob", "11.00")
        forward.bid("alice", "12.00", "50.00")
        assert standing(forward) == ("alice", "12.00")
        assert forward.auction.english.limit == forward.money("50.00")
        forward.bid("bob", "45.00")
        assert standing(forward) == ("alice", "46.00")

    def test_the_leader_cannot_lower_or_repeat_its_limit(self, forward):
        forward.bid("alice", "10.00", "30.00")
        for limit in ("30.00", "20.00"):
            with pytest.raises(BidRejected) as err:
                forward.bid("alice", "10.00", limit)
            assert err.value.field == "max_amount"
        assert forward.auction.english.limit == forward.money("30.00")

    def test_max_amount_below_amount_is_refused(self, forward):
        with pytest.raises(BidRejected) as err:
            forward.bid("alice", "10.00", "9.00")
        assert err.value.field == "max_amount"


class TestReverse:
    """Descending: providers undercut; max_amount is the lowest price a provider accepts."""

    def test_proxy_answers_downwards(self, reverse):
        reverse.bid("p1", "90.00", "60.00")
        result = reverse.place("p2", "89.00")
        assert rows(result) == [("p2", "89.00", False), ("p1", "88.00", True)]
        assert standing(reverse) == ("p1", "88.00")

    def test_minimum_decrement_is_enforced_with_a_message(self, reverse):
        reverse.bid("p1", "90.00")
        with pytest.raises(BidRejected) as err:
            reverse.bid("p2", "89.50")
        assert err.value.field == "amount"
        assert "at most 89.00" in err.value.message

    def test_a_challenger_below_the_limit_takes_the_lead_at_limit_minus_increment(self, reverse):
        reverse.bid("p1", "90.00", "60.00")
        result = reverse.place("p3", "87.00", "50.00")
        assert rows(result) == [("p1", "60.00", True), ("p3", "59.00", False)]
        assert standing(reverse) == ("p3", "59.00")
        assert reverse.prices(reverse.close()) == {"p3": "59.00"}

    def test_the_leader_lowers_its_own_limit(self, reverse):
        reverse.bid("p1", "90.00", "60.00")
        reverse.bid("p1", "90.00", "40.00")
        assert standing(reverse) == ("p1", "90.00")
        reverse.bid("p2", "50.00")
        assert standing(reverse) == ("p1", "49.00")
        with pytest.raises(BidRejected) as err:
            reverse.bid("p1", "49.00", "45.00")
        assert err.value.field == "max_amount"

    def test_a_reverse_limit_above_the_amount_is_refused(self, reverse):
        with pytest.raises(BidRejected) as err:
            reverse.bid("p1", "50.00", "60.00")
        assert err.value.field == "max_amount"


class TestSoftClose:
    @pytest.fixture
    def book(self, kit):
        return kit.book("forward", "english", soft_close_s=60)

    def test_a_bid_in_the_last_seconds_moves_the_close(self, book):
        close = book.auction.closes_at
        book.bid("alice", "10.00", at=close - timedelta(seconds=30))
        assert book.auction.closes_at == close + timedelta(seconds=30)
        # the auction takes bids in the extra time, and each moves the close again
        book.bid("bob", "11.00", at=close + timedelta(seconds=20))
        assert book.auction.closes_at == close + timedelta(seconds=80)

    def test_a_bid_before_the_soft_close_window_does_not_move_it(self, book):
        close = book.auction.closes_at
        book.bid("alice", "10.00", at=close - timedelta(seconds=61))
        assert book.auction.closes_at == close
        book.bid("bob", "11.00", at=close - timedelta(seconds=60))
        assert book.auction.closes_at == close

    def test_a_refused_bid_does_not_move_the_close(self, book):
        close = book.auction.closes_at
        book.bid("alice", "10.00", at=close - timedelta(minutes=5))
        with pytest.raises(BidRejected):
            book.bid("bob", "10.00", at=close - timedelta(seconds=5))
        assert book.auction.closes_at == close

    def test_without_soft_close_a_late_bid_moves_nothing(self, kit):
        book = kit.book("forward", "english")
        close = book.auction.closes_at
        book.bid("alice", "10.00", at=close - timedelta(seconds=1))
        assert book.auction.closes_at == close


class TestReserve:
    """A4 in english: a hidden forward reserve within the leader's limit raises the price."""

    def test_reserve_within_the_leaders_limit_raises_the_price_to_it(self, kit):
        book = kit.book("forward", "english", reserve="50.00")
        book.bid("alice", "20.00", "60.00")
        result = book.close()
        assert book.prices(result) == {"alice": "50.00"}
        assert result.contracts[0].price == book.money("50.00")

    def test_reserve_above_the_leaders_limit_means_no_winner(self, kit):
        book = kit.book("forward", "english", reserve="50.00")
        book.bid("alice", "20.00", "40.00")
        result = book.close()
        assert result.auction.outcome.winners == ()
        assert result.auction.outcome.note == "reserve not met"
        assert result.contracts == ()

    def test_a_price_above_the_reserve_stands(self, kit):
        book = kit.book("forward", "english", reserve="50.00")
        book.bid("alice", "20.00", "60.00")
        book.bid("bob", "55.00")
        assert book.prices(book.close()) == {"alice": "55.01"}  # default increment 0.01

    def test_no_bids_no_winner(self, kit):
        result = kit.book("forward", "english").close()
        assert result.auction.outcome.winners == ()
        assert result.auction.outcome.note == "no bids"
