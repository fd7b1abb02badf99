"""The bid desk keeps open auctions' bidding state between its batches, and never bids on a
stale one: a change made elsewhere (another process's desk on the same database, a cancel)
raises the auction's version, and the next batch reads it again."""

from __future__ import annotations

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.errors import AuctionNotOpen, BidRejected
from commex.services.bus import MessageBus
from commex.services.queries import AuctionState
from support.engine import auction_request, cancel, open_auction, place_bid, register
from support.engine import error_of as err_of
from support.moments import T0


@pytest.fixture
def two_servers() -> tuple[MessageBus, MessageBus]:
    """Two buses, each with its own bid desk, on one store: two processes on one database."""
    store = MemoryUnitOfWorkFactory()
    clock = ManualClock(T0)
    return make_bus(store, clock=clock), make_bus(store, clock=clock)


def test_a_bid_placed_through_another_desk_is_seen(two_servers) -> None:  # type: ignore[no-untyped-def]
    one, two = two_servers
    seller = register(one, "Seller", ["provider"]).id
    alice, bob, carol = (register(one, n, ["recipient"]).id for n in ("Alice", "Bob", "Carol"))
    a = open_auction(one, seller, auction_request(format="english", min_increment="1.00"))
    place_bid(one, a.id, alice, "10.00")  # desk one keeps the auction at a price of 10.00
    place_bid(two, a.id, bob, "20.00")
    err = err_of(BidRejected, place_bid, one, a.id, carol, "15.00")
    assert "21.00" in err.message  # desk one read the auction again: bob's 20.00 leads
    assert place_bid(one, a.id, carol, "21.00").amount.amount == 21
    assert one.handle(AuctionState(a.id)).bid_count == 3


def test_a_sealed_bidder_keeps_one_standing_bid_across_desks(two_servers) -> None:  # type: ignore[no-untyped-def]
    one, two = two_servers
    seller = register(one, "Seller", ["provider"]).id
    alice = register(one, "Alice", ["recipient"]).id
    a = open_auction(one, seller, auction_request())  # sealed first-price
    place_bid(one, a.id, alice, "10.00")
    place_bid(two, a.id, alice, "12.00")  # replaces the 10.00 bid
    last = place_bid(one, a.id, alice, "11.00")  # must replace the 12.00 bid, not the 10.00
    with one.unit_of_work(write=False) as uow:
        active = uow.auctions.active_bids(a.id)
    assert [b.id for b in active] == [last.id]


def test_a_cancelled_auction_takes_no_more_bids_from_a_desk_that_knew_it(two_servers) -> None:  # type: ignore[no-untyped-def]
    one, two = two_servers
    seller = register(one, "Seller", ["provider"]).id
    alice = register(one, "Alice", ["recipient"]).id
    operator = register(one, "Operator", ["operator"], allow_operator=True).id
    a = open_auction(one, seller, auction_request(format="english"))
    place_bid(one, a.id, alice, "10.00")
    cancel(two, a.id, operator, "a listing against the rules")
    err_of(AuctionNotOpen, place_bid, one, a.id, alice, "30.00")
    assert one.handle(AuctionState(a.id)).bid_count == 1
