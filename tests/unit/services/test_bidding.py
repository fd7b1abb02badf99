"""Bidding through the bid desk: amounts, eligibility, refusals that leave nothing behind,
Idempotency-Keys, the answer a bid gets (its bidder's reputation, read in the bid's own
transaction), and group commit: bids that arrive together share one commit, and a batch that
fails is retried one bid at a time."""

import pytest

from commex.domain.accounts import Role
from commex.domain.errors import (
    BidRejected,
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
    NotFound,
)
from support.engine import auction_request as req
from support.engine import close, close_due, open_auction, place_bid, register, view, wire
from support.engine import error_of as err_of
from support.moments import CLOSES, GOOD, POOR, T0


class TestBids:
    def test_amounts_are_decimal_strings(self, ex, who):
        a = open_auction(ex, who.seller, req())
        bid = place_bid(ex, a.id, who.alice, "12.5")
        assert str(bid.amount) == "12.50"
        assert bid.created_at == T0
        shown = wire(ex, a.id, who.alice)["bids"][0]
        assert shown["amount"] == "12.50"
        assert isinstance(shown["amount"], str)

    @pytest.mark.parametrize(
        ("amount", "limit", "field"),
        [(12.5, None, "amount"), ("12.345", None, "amount"), ("10.00", 20.0, "max_amount")],
    )
    def test_floats_and_extra_decimals_are_refused(self, ex, who, amount, limit, field):
        a = open_auction(ex, who.seller, req(format="english"))
        err = err_of(InvalidInput, place_bid, ex, a.id, who.alice, amount, limit)
        assert err.field == field
        assert wire(ex, a.id, who.alice)["bid_count"] == 0

    def test_unknown_auction_or_bidder(self, ex, who):
        a = open_auction(ex, who.seller, req())
        err_of(NotFound, place_bid, ex, "auc_ghost", who.alice, "1.00")
        err_of(NotFound, place_bid, ex, a.id, "acc_ghost", "1.00")

    def test_no_bid_on_own_auction_or_in_the_wrong_role(self, ex, who):
        a = open_auction(ex, who.seller, req())
        err_of(Forbidden, place_bid, ex, a.id, who.seller, "1.00")
        err_of(Forbidden, place_bid, ex, a.id, who.p1, "1.00")
        err_of(Forbidden, place_bid, ex, a.id, who.op, "1.00")

    def test_a_refused_bid_leaves_nothing_behind(self, ex, who):
        a = open_auction(ex, who.seller, req(format="english", min_increment="1.00"))
        place_bid(ex, a.id, who.alice, "10.00", "30.00")
        err = err_of(BidRejected, place_bid, ex, a.id, who.bob, "10.50")
        assert "11.00" in err.message
        view = wire(ex, a.id, who.bob)
        assert view["bid_count"] == 1
        assert [b["amount"] for b in view["bids"]] == ["10.00"]

    def test_english_proxy_through_the_exchange(self, ex, who):
        a = open_auction(ex, who.seller, req(format="english", min_increment="1.00"))
        place_bid(ex, a.id, who.alice, "10.00", "30.00")
        place_bid(ex, a.id, who.bob, "11.00")
        view = wire(ex, a.id, who.carol)
        assert view["standing_price"] == "12.00"
        assert view["leader"]["id"] == who.alice
        assert view["bid_count"] == 3
        place_bid(ex, a.id, who.carol, "13.00", "40.00")
        ex.clock.set(CLOSES)
        (closed,) = close_due(ex)
        (winner,) = closed.outcome.winners
        assert (winner.bidder_id, str(winner.price)) == (who.carol, "31.00")

    def test_eligibility_uses_the_reputation_source(self, ex, who, reps):
        reps.set(who.p1, Role.PROVIDER, POOR)
        reps.set(who.p2, Role.PROVIDER, GOOD)
        a = open_auction(
            ex, who.buyer, req(direction="reverse", eligibility={"min_provider_score": 0.6})
        )
        err = err_of(NotEligible, place_bid, ex, a.id, who.p1, "10.00")
        assert "0.60" in err.message
        place_bid(ex, a.id, who.p2, "10.00")
        assert wire(ex, a.id, who.p2)["bid_count"] == 1

    def test_min_recipient_score_and_approved_providers(self, ex, who, reps):
        reps.set(who.alice, Role.RECIPIENT, POOR)
        fwd = open_auction(ex, who.seller, req(eligibility={"min_recipient_score": 0.3}))
        err_of(NotEligible, place_bid, ex, fwd.id, who.alice, "10.00")
        place_bid(ex, fwd.id, who.bob, "10.00")
        rev = open_auction(
            ex, who.buyer, req(direction="reverse", eligibility={"approved_providers": [who.p2]})
        )
        err_of(NotEligible, place_bid, ex, rev.id, who.p1, "10.00")
        place_bid(ex, rev.id, who.p2, "10.00")

    def test_reverse_ceiling_is_enforced(self, ex, who):
        a = open_auction(ex, who.buyer, req(direction="reverse", reserve="100.00"))
        assert err_of(BidRejected, place_bid, ex, a.id, who.p1, "100.01").field == "amount"
        place_bid(ex, a.id, who.p2, "99.99")
        ex.clock.set(CLOSES)
        closed = close(ex, a.id, None)
        assert [str(w.price) for w in closed.outcome.winners] == ["99.99"]


def test_a_bid_with_an_idempotency_key_is_placed_once(ex) -> None:
    seller = register(ex, "S", ["provider"])
    buyer = register(ex, "B", ["recipient"])
    auction = open_auction(
        ex,
        seller.id,
        {
            "direction": "forward",
            "format": "english",
            "title": "t",
            "terms": {"service": "voice", "duration_s": 60},
            "currency": "EUR",
            "closes_at": "2026-03-01T13:00:00Z",
        },
    )
    first = place_bid(ex, auction.id, buyer.id, "5.00", idempotency_key="retry-1")
    again = place_bid(ex, auction.id, buyer.id, "5.00", idempotency_key="retry-1")
    assert again == first
    assert view(ex, auction.id, buyer.id).auction.bid_count == 1
    with pytest.raises(Conflict, match="different bid"):
        place_bid(ex, auction.id, buyer.id, "9.00", idempotency_key="retry-1")
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        place_bid(ex, auction.id, buyer.id, "9.00", idempotency_key="x" * 200)
