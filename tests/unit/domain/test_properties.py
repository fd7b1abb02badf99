"""Invariants of the auction rules over generated bids (Hypothesis)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from commex.domain.errors import AuctionNotOpen, BidRejected
from commex.domain.money import Money

FAST = settings(max_examples=100, deadline=None)

cents = st.integers(min_value=1, max_value=100_000)


def eur(minor):
    return Money.from_minor(minor, "EUR")


def winners(result):
    return {(w.bidder_id, str(w.price)) for w in result.auction.outcome.winners}


@FAST
@given(
    quantity=st.integers(1, 5),
    amounts=st.lists(cents, max_size=10),
    reserve=st.none() | cents,
)
def test_second_price_forward_every_winner_pays_one_fair_price(kit, quantity, amounts, reserve):
    kw = {"quantity": quantity}
    if reserve is not None:
        kw["reserve"] = eur(reserve)
    book = kit.book("forward", "second-price", **kw)
    for i, amount in enumerate(amounts):
        book.bid(f"b{i}", eur(amount))
    result = book.close()
    won = result.auction.outcome.winners
    ranked = sorted(range(len(amounts)), key=lambda i: (-amounts[i], i))
    qualifying = [i for i in ranked if reserve is None or amounts[i] >= reserve]
    expected_winners = qualifying[:quantity]
    assert [w.bidder_id for w in won] == [f"b{i}" for i in expected_winners]
    if not won:
        return
    prices = {w.price for w in won}
    assert len(prices) == 1
    (price,) = prices
    losers = [amounts[i] for i in ranked if i not in expected_winners]
    candidates = [m for m in (losers[0] if losers else None, reserve) if m is not None]
    expected = max(candidates) if candidates else min(amounts[i] for i in expected_winners)
    assert price == eur(expected)
    if reserve is not None:
        assert price >= eur(reserve)
    for w in won:
        assert price <= eur(amounts[int(w.bidder_id[1:])])
    assert len(result.contracts) == len(won)


@FAST
@given(
    data=st.data(),
    fmt=st.sampled_from(["first-price", "second-price"]),
    direction=st.sampled_from(["forward", "reverse"]),
    amounts=st.lists(cents, min_size=1, max_size=8, unique=True),
)
def test_outcome_does_not_depend_on_arrival_order(kit, data, fmt, direction, amounts):
    quantity = data.draw(st.integers(1, 4)) if direction == "forward" else 1
    named = [(f"b{i}", a) for i, a in enumerate(amounts)]

    def outcome(order):
        book = kit.book(direction, fmt, quantity=quantity)
        for name, amount in order:
            book.bid(name, eur(amount))
        return winners(book.close())

    shuffled = data.draw(st.permutations(named))
    assert outcome(named) == outcome(shuffled)


@FAST
@given(
    fmt=st.sampled_from(["first-price", "second-price", "english"]),
    late=st.integers(0, 10**9),
    early=st.integers(1, 59 * 60 * 10**6),
)
def test_no_bid_is_accepted_at_or_after_the_close(kit, fmt, late, early):
    book = kit.book("forward", fmt)
    close = book.auction.closes_at
    with pytest.raises(AuctionNotOpen):
        book.bid("late", "10.00", at=close + timedelta(microseconds=late))
    assert book.auction.bid_count == 0
    book.bid("early", "10.00", at=close - timedelta(microseconds=early))
    assert book.auction.bid_count == 1


steps = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 500), st.integers(0, 3000)),
    min_size=1,
    max_size=25,
)


@FAST
@given(
    direction=st.sampled_from(["forward", "reverse"]),
    increment=st.integers(1, 300),
    moves=steps,
)
def test_english_proxy_bidding_respects_every_limit(kit, direction, increment, moves):
    sign = 1 if direction == "forward" else -1
    book = kit.book(direction, "english", min_increment=eur(increment))
    inc = Decimal(increment) / 100

    def key(m):
        return sign * m.amount

    declared = {}  # bidder -> key of the limit it stated last
    for who, extra_amount, extra_limit in moves:
        bidder = f"b{who}"
        st_ = book.auction.english
        start = 100 if sign > 0 else 90_000  # in cents
        base = start if st_.price is None else st_.price.to_minor() + sign * increment
        amount = base + sign * extra_amount
        limit = amount + sign * extra_limit
        if amount <= 0 or limit <= 0:
            continue
        prev_leader, prev_price = st_.leader_id, st_.price
        try:
            result = book.place(bidder, eur(amount), eur(limit))
        except BidRejected:
            # the only refusal possible here: a leader that does not improve its own limit
            assert bidder == prev_leader
            assert key(eur(limit)) <= declared[bidder]
            continue
        declared[bidder] = key(eur(limit))
        event(f"{len(result.new_bids)} rows")
        state = book.auction.english
        assert key(state.price) <= key(state.limit)
        assert key(state.limit) == declared[state.leader_id]
        for row in result.new_bids:
            assert key(row.amount) <= declared[row.bidder_id]
        if prev_price is not None:
            assert key(state.price) >= key(prev_price)
            if bidder != prev_leader:
                assert key(state.price) - key(prev_price) >= inc
    result = book.close()
    for w in result.auction.outcome.winners:
        # forward: never pays more than its limit; reverse: never paid less than its limit
        assert key(w.price) <= declared[w.bidder_id]


@FAST
@given(
    fmt=st.sampled_from(["first-price", "second-price"]),
    quantity=st.integers(1, 6),
    amounts=st.lists(cents, max_size=12),
    reserve=st.none() | cents,
)
def test_winners_fit_the_quantity_and_meet_the_reserve(kit, fmt, quantity, amounts, reserve):
    kw = {"quantity": quantity}
    if reserve is not None:
        kw["reserve"] = eur(reserve)
    book = kit.book("forward", fmt, **kw)
    placed = {}
    for i, amount in enumerate(amounts):
        placed[book.bid(f"b{i}", eur(amount)).id] = eur(amount)
    result = book.close()
    won = result.auction.outcome.winners
    assert len(won) <= quantity
    assert len({w.bidder_id for w in won}) == len(won)
    qualifying = [a for a in amounts if reserve is None or a >= reserve]
    assert len(won) == min(quantity, len(qualifying))
    for w in won:
        bid = placed[w.bid_id]
        if reserve is not None:
            assert bid >= eur(reserve)
            assert w.price >= eur(reserve)
        assert w.price <= bid
    losing = [m for i, m in placed.items() if i not in {w.bid_id for w in won}]
    for w in won:
        assert all(placed[w.bid_id] >= m for m in losing)


@FAST
@given(amounts=st.lists(cents, min_size=1, max_size=8), ceiling=cents)
def test_reverse_never_awards_above_the_ceiling(kit, amounts, ceiling):
    book = kit.book("reverse", "second-price", reserve=eur(ceiling))
    for i, amount in enumerate(amounts):
        if amount > ceiling:
            with pytest.raises(BidRejected):
                book.bid(f"p{i}", eur(amount))
        else:
            book.bid(f"p{i}", eur(amount))
    for w in book.close().auction.outcome.winners:
        assert w.price <= eur(ceiling)
