"""A5: reverse bids rank by a reputation-weighted effective price; the rule is published."""

from decimal import ROUND_FLOOR, Decimal

import pytest

from commex.domain.formats import effective_price
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.domain.visibility import ranking_rule

GOOD = Reputation(positive=40, negative=0, count=40)
MIXED = Reputation(positive=6, negative=4, count=10)


def test_effective_price_formula(kit):
    amount = kit.money("100.00")
    lb = GOOD.lower_bound_decimal()
    assert Decimal("0.9") < lb < Decimal("0.95")
    assert effective_price(amount, GOOD, Decimal("0.5")) == Decimal("100.00") * (
        1 + Decimal("0.5") * (1 - lb)
    )
    # no ratings: lower bound 0, the full weight applies
    assert effective_price(amount, NO_RATINGS, Decimal("0.5")) == Decimal("150.00")
    # weight 0: the price alone, whatever the reputation
    assert effective_price(amount, GOOD, Decimal(0)) == Decimal("100.00")
    assert effective_price(amount, NO_RATINGS, Decimal(0)) == Decimal("100.00")


def test_a_better_reputation_ranks_lower_at_the_same_price(kit):
    amount = kit.money("100.00")
    w = Decimal("0.3")
    assert effective_price(amount, GOOD, w) < effective_price(amount, MIXED, w)
    assert effective_price(amount, MIXED, w) < effective_price(amount, NO_RATINGS, w)


def test_reputation_can_outrank_a_lower_price(kit):
    book = kit.book("reverse", "first-price", reputation_weight="0.5")
    book.bid("trusted", "100.00")
    book.bid("newcomer", "90.00")
    reps = {"trusted": GOOD, "newcomer": NO_RATINGS}
    assert book.prices(book.close(reps=reps)) == {"trusted": "100.00"}


def test_weight_zero_ranks_by_price_alone(kit):
    book = kit.book("reverse", "first-price")
    book.bid("trusted", "100.00")
    book.bid("newcomer", "90.00")
    reps = {"trusted": GOOD, "newcomer": NO_RATINGS}
    assert book.prices(book.close(reps=reps)) == {"newcomer": "90.00"}


def vickrey_price(loser_amount, loser_rep, winner_rep, w):
    target = Decimal(loser_amount) * (1 + w * (1 - loser_rep.lower_bound_decimal()))
    factor = 1 + w * (1 - winner_rep.lower_bound_decimal())
    return (target / factor).quantize(Decimal("0.01"), ROUND_FLOOR)


class TestWeightedSecondPrice:
    def test_the_winner_is_paid_up_to_where_it_would_tie_the_best_loser(self, kit):
        w = Decimal("0.5")
        book = kit.book("reverse", "second-price", reputation_weight=w)
        book.bid("trusted", "100.00")
        book.bid("newcomer", "90.00")
        reps = {"trusted": GOOD, "newcomer": NO_RATINGS}
        result = book.close(reps=reps)
        expected = vickrey_price("90.00", NO_RATINGS, GOOD, w)
        assert book.prices(result) == {"trusted": str(expected)}
        assert expected > Decimal("100.00")
        # at that price the winner's effective price does not exceed the loser's
        paid = kit.money(str(expected))
        assert effective_price(paid, GOOD, w) <= effective_price(kit.money("90.00"), NO_RATINGS, w)

    def test_the_price_is_capped_by_the_ceiling(self, kit):
        w = Decimal("0.5")
        book = kit.book("reverse", "second-price", reputation_weight=w, reserve="110.00")
        book.bid("trusted", "100.00")
        book.bid("newcomer", "90.00")
        result = book.close(reps={"trusted": GOOD, "newcomer": NO_RATINGS})
        assert vickrey_price("90.00", NO_RATINGS, GOOD, w) > Decimal("110.00")
        assert book.prices(result) == {"trusted": "110.00"}

    def test_the_winner_is_never_paid_less_than_its_bid(self, kit):
        w = Decimal("1")
        book = kit.book("reverse", "second-price", reputation_weight=w)
        book.bid("newcomer", "50.00")
        book.bid("trusted", "58.00")
        # newcomer: 100 effective; trusted: about 63 -> trusted wins; the loser's
        # effective price divided by the trusted factor is well above 58
        result = book.close(reps={"trusted": GOOD, "newcomer": NO_RATINGS})
        (winner,) = result.auction.outcome.winners
        assert winner.bidder_id == "trusted"
        assert winner.price >= kit.money("58.00")


class TestRankingRule:
    def test_the_rule_names_the_weight(self, kit):
        rule = ranking_rule(kit.book("reverse", "second-price", reputation_weight="0.25").auction)
        assert "0.25" in rule
        assert "effective price" in rule
        assert "reputation" in rule
        assert "earlier bid" in rule

    def test_weight_zero_says_price_alone(self, kit):
        rule = ranking_rule(kit.book("reverse", "first-price").auction)
        assert "price alone" in rule
        assert "lowest first" in rule

    @pytest.mark.parametrize("fmt", ["first-price", "second-price", "english"])
    def test_forward_ranks_highest_first_and_names_the_format(self, kit, fmt):
        rule = ranking_rule(kit.book("forward", fmt).auction)
        assert rule.startswith(fmt)
        assert "highest first" in rule
