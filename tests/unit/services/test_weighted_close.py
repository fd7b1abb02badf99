"""Closing a reputation-weighted reverse auction reads bids a page at a time in ascending
amount and stops early; it must award exactly what ranking every bid would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import FixedReputations
from commex.bootstrap import in_memory_exchange
from commex.domain import formats
from commex.domain.accounts import Role
from commex.domain.reputation import Reputation
from commex.services import auctions as auctions_module
from commex.services.queries import AuctionState
from support.engine import close, open_auction, place_bid, register

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(
    bids=st.lists(
        st.tuples(st.integers(100, 400), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=25,
    ),
    weight=st.sampled_from(["0.1", "0.5", "1"]),
    fmt=st.sampled_from(["first-price", "second-price"]),
)
def test_a_paged_close_awards_what_ranking_every_bid_would(
    bids: list[tuple[int, int, int]], weight: str, fmt: str
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auctions_module, "_CLOSE_PAGE", 3)  # several pages even for a few bids
        _check(bids, weight, fmt)


def _check(bids: list[tuple[int, int, int]], weight: str, fmt: str) -> None:
    clock = ManualClock(T0)
    reps = FixedReputations()
    ex = in_memory_exchange(clock=clock, ids=SequentialIds(), reputations=reps)
    buyer = register(ex, "Buyer", ["recipient"])
    auction = open_auction(
        ex,
        buyer.id,
        {
            "direction": "reverse",
            "format": fmt,
            "title": "weighted",
            "terms": {"service": "voice", "duration_s": 60},
            "currency": "EUR",
            "reputation_weight": weight,
            "closes_at": (T0 + timedelta(hours=1)).isoformat(),
        },
    )
    for i, (cents, good, bad) in enumerate(bids):
        p = register(ex, f"P{i}", ["provider"])
        reps.set(p.id, Role.PROVIDER, Reputation(positive=good, negative=bad, count=good + bad))
        place_bid(ex, auction.id, p.id, f"{cents // 100}.{cents % 100:02d}")
    open_state = ex.handle(AuctionState(auction.id))
    everything = ex.uow_factory.store.bids.values()  # type: ignore[attr-defined]
    expected, _ = formats.award(
        open_state,
        list(everything),
        {b.bidder_id: reps.of(None, b.bidder_id, Role.PROVIDER) for b in everything},  # type: ignore[arg-type]
    )
    clock.advance(3601)
    closed = close(ex, auction.id, None)
    assert closed.outcome is not None
    got = [(w.bid_id, w.price.amount) for w in closed.outcome.winners]
    assert got == [(b.id, Decimal(p.amount)) for b, p in expected]
