"""Reputation (R4): decayed beta weight, a cap per counterparty, the lower bound and the text."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.domain.reputation import (
    HALF_LIFE_DAYS,
    NO_RATINGS,
    PAIR_CAP,
    WINDOW_DAYS,
    PairTally,
    Reputation,
    Tally,
    add_rating,
    decay_factor,
    reputation_of,
)

FAST = settings(max_examples=200, deadline=None)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HALF_LIFE = timedelta(days=HALF_LIFE_DAYS)
EPS = 1e-9


def rate_many(ratings, tally=None):
    """Apply (counterparty, satisfied, moment) ratings in order; return the tally and pairs."""
    pairs: dict[str, PairTally] = {}
    for who, satisfied, moment in ratings:
        tally, pairs[who], _ = add_rating(tally, pairs.get(who), satisfied, moment)
    return tally, pairs


# --- decay ------------------------------------------------------------------------------------


def test_decay_halves_weight_every_half_life():
    assert HALF_LIFE_DAYS == 180
    assert decay_factor(T0, T0 + HALF_LIFE) == pytest.approx(0.5)
    assert decay_factor(T0, T0 + 2 * HALF_LIFE) == pytest.approx(0.25)
    tally = Tally(8.0, 2.0, T0).at(T0 + HALF_LIFE)
    assert (tally.positive, tally.negative) == (pytest.approx(4.0), pytest.approx(1.0))
    assert tally.as_of == T0 + HALF_LIFE
    assert PairTally(3.0, T0).at(T0 + HALF_LIFE).weight == pytest.approx(1.5)


def test_nothing_decays_at_the_same_moment_or_backwards():
    assert decay_factor(T0, T0) == 1.0
    assert decay_factor(T0, T0 - timedelta(days=30)) == 1.0
    tally = Tally(5.0, 1.0, T0)
    assert tally.at(T0) == tally
    assert tally.at(T0 - timedelta(days=30)) == tally
    pair = PairTally(2.0, T0)
    assert pair.at(T0 - timedelta(days=1)) == pair


@FAST
@given(
    positive=st.floats(0, 1e6),
    negative=st.floats(0, 1e6),
    seconds=st.integers(-(10**9), 10**9),
)
def test_a_tally_never_grows_with_time(positive, negative, seconds):
    later = Tally(positive, negative, T0).at(T0 + timedelta(seconds=seconds))
    assert later.positive <= positive and later.negative <= negative
    assert later.as_of >= T0


def test_an_old_record_weighs_less_than_a_fresh_one():
    tally, _ = rate_many([("a", True, T0), ("b", True, T0)])
    now = T0 + timedelta(days=365)
    old = reputation_of(tally, recent_count=0, now=now)
    fresh = reputation_of(rate_many([("a", True, now), ("b", True, now)])[0], 2, now)
    assert old.positive == pytest.approx(2 * decay_factor(T0, now))
    assert old.positive < fresh.positive == 2.0


# --- one rating, and the cap per counterparty -------------------------------------------------


def test_a_first_rating_weighs_one():
    tally, pair, weight = add_rating(None, None, True, T0)
    assert (tally, pair, weight) == (Tally(1.0, 0.0, T0), PairTally(1.0, T0), 1.0)
    tally, pair, weight = add_rating(tally, None, False, T0)
    assert (tally, pair, weight) == (Tally(1.0, 1.0, T0), PairTally(1.0, T0), 1.0)


def test_adding_brings_the_tally_to_now_first():
    tally, pair, weight = add_rating(Tally(4.0, 2.0, T0), PairTally(2.0, T0), True, T0 + HALF_LIFE)
    assert weight == 1.0
    assert tally.positive == pytest.approx(3.0) and tally.negative == pytest.approx(1.0)
    assert pair.weight == pytest.approx(2.0)
    assert tally.as_of == pair.as_of == T0 + HALF_LIFE


def test_one_counterparty_flooding_fifty_positive_ratings_holds_at_most_the_cap():
    tally, pair, weights = None, None, []
    for i in range(50):
        tally, pair, weight = add_rating(tally, pair, True, T0 + timedelta(minutes=i))
        weights.append(weight)
    assert weights[:3] == [1.0, 1.0, 1.0]
    # Only what decayed in the minute since the last one is free again.
    assert all(w < 1e-4 for w in weights[3:])
    assert tally.positive <= PAIR_CAP and tally.negative == 0.0
    assert pair.weight <= PAIR_CAP
    flooded = reputation_of(tally, 50, T0 + timedelta(hours=1))
    honest, _ = rate_many([(f"c{i}", True, T0) for i in range(10)])
    assert flooded.lower_bound < reputation_of(honest, 10, T0 + timedelta(hours=1)).lower_bound


def test_a_flood_at_one_moment_weighs_nothing_past_the_cap():
    weights = []
    tally = pair = None
    for _ in range(50):
        tally, pair, weight = add_rating(tally, pair, True, T0)
        weights.append(weight)
    assert weights == [1.0, 1.0, 1.0] + [0.0] * 47
    assert tally == Tally(PAIR_CAP, 0.0, T0) and pair == PairTally(PAIR_CAP, T0)


def test_a_negative_flood_is_capped_the_same_way():
    tally, _ = rate_many([("rival", False, T0)] * 50, Tally(20.0, 0.0, T0))
    assert tally.negative == PAIR_CAP
    assert reputation_of(tally, 70, T0).score > 0.8


def test_room_under_the_cap_comes_back_as_old_weight_decays():
    tally, pairs = rate_many([("a", True, T0)] * 3)
    later = T0 + HALF_LIFE  # the pair holds 1.5 now
    tally, pair, weight = add_rating(tally, pairs["a"], True, later)
    assert weight == 1.0 and pair.weight == pytest.approx(2.5)
    tally, pair, weight = add_rating(tally, pair, True, later)
    assert weight == pytest.approx(0.5) and pair.weight == PAIR_CAP
    tally, pair, weight = add_rating(tally, pair, True, later)
    assert weight == 0.0 and tally.positive == pytest.approx(PAIR_CAP)


def test_a_rating_dated_before_the_tally_adds_without_moving_time_back():
    tally, pair, weight = add_rating(Tally(2.0, 0.0, T0), None, False, T0 - timedelta(days=1))
    assert tally == Tally(2.0, 1.0, T0) and weight == 1.0
    assert pair.weight == 1.0


ratings_of_one = st.lists(
    st.tuples(st.booleans(), st.integers(0, 400 * 86400)), min_size=1, max_size=60
)


@FAST
@given(sequence=ratings_of_one, read_after=st.integers(0, 400 * 86400))
def test_any_sequence_from_one_counterparty_contributes_at_most_the_cap(sequence, read_after):
    moment, ratings = T0, []
    for satisfied, gap in sequence:
        moment += timedelta(seconds=gap)
        ratings.append(("flooder", satisfied, moment))
    tally, pairs = rate_many(ratings)
    for at in (moment, moment + timedelta(seconds=read_after)):
        rep = reputation_of(tally, len(ratings), at)
        assert rep.positive + rep.negative <= PAIR_CAP + EPS
        # What the account holds is exactly what the pair says the counterparty put in.
        assert rep.positive + rep.negative == pytest.approx(pairs["flooder"].at(at).weight)


@FAST
@given(
    sequence=st.lists(
        st.tuples(st.integers(0, 4), st.booleans(), st.integers(0, 30 * 86400)),
        min_size=1,
        max_size=80,
    )
)
def test_several_counterparties_add_up_each_under_its_own_cap(sequence):
    moment, ratings = T0, []
    for who, satisfied, gap in sequence:
        moment += timedelta(seconds=gap)
        ratings.append((f"c{who}", satisfied, moment))
    tally, pairs = rate_many(ratings)
    rep = reputation_of(tally, len(ratings), moment)
    held = [pair.at(moment).weight for pair in pairs.values()]
    assert all(w <= PAIR_CAP + EPS for w in held)
    assert rep.positive + rep.negative == pytest.approx(sum(held))
    assert rep.positive + rep.negative <= PAIR_CAP * len(pairs) + EPS


def test_three_counterparties_flooding_hold_three_caps():
    flood = [(who, True, T0) for who in ("a", "b", "c") for _ in range(20)]
    tally, _ = rate_many(flood)
    assert tally.positive == 3 * PAIR_CAP


# --- score, lower bound, showing it -----------------------------------------------------------


def test_the_lower_bound_ranks_one_good_rating_below_a_long_good_record():
    one, _ = rate_many([("a", True, T0)])
    fifty, _ = rate_many([(f"c{i}", True, T0) for i in range(50)])
    one_rep, fifty_rep = reputation_of(one, 1, T0), reputation_of(fifty, 50, T0)
    assert 0.0 < one_rep.lower_bound < fifty_rep.lower_bound
    assert NO_RATINGS.lower_bound == 0.0
    # The beta mean alone would rank them the other way round less sharply.
    assert one_rep.score == pytest.approx(2 / 3) and fifty_rep.score == pytest.approx(51 / 52)


def test_reputation_of_no_tally_is_no_ratings_yet():
    rep = reputation_of(None, 0, T0)
    assert rep == Reputation(0.0, 0.0, 0, WINDOW_DAYS) == NO_RATINGS
    assert rep.describe() == "no ratings yet"
    assert rep.score == 0.5


def test_reputation_of_decays_to_the_moment_shown():
    rep = reputation_of(Tally(10.0, 2.0, T0), recent_count=12, now=T0 + HALF_LIFE)
    assert (rep.positive, rep.negative) == (pytest.approx(5.0), pytest.approx(1.0))
    assert (rep.count, rep.window_days) == (12, 365)


@pytest.mark.parametrize(
    ("rep", "text"),
    [
        (Reputation(96.0, 4.0, 212), "96% positive, 212 ratings in the last 12 months"),
        (Reputation(1.0, 0.0, 1), "100% positive, 1 rating in the last 12 months"),
        (Reputation(0.0, 1.0, 1), "0% positive, 1 rating in the last 12 months"),
        (Reputation(999.0, 1.0, 1000), "99% positive, 1000 ratings in the last 12 months"),
        (Reputation(1.0, 999.0, 1000), "1% positive, 1000 ratings in the last 12 months"),
        (Reputation(0.4, 0.1, 0), "80% positive, no ratings in the last 12 months"),
        (Reputation(3.0, 1.0, 4, window_days=30), "75% positive, 4 ratings in the last month"),
        (Reputation(0.0, 0.0, 0), "no ratings yet"),
    ],
)
def test_describe_says_the_share_the_count_and_the_window(rep, text):
    assert rep.describe() == text


def test_the_wire_form_keeps_its_fields():
    assert Reputation(3.0, 1.0, 4).to_dict() == {
        "score": round(4 / 6, 4),
        "lower_bound": round(Reputation(3.0, 1.0, 4).lower_bound, 4),
        "positive": 3.0,
        "negative": 1.0,
        "count": 4,
        "window_days": 365,
    }
    assert not math.isnan(Reputation(3.0, 1.0, 4).lower_bound)
