"""The message bus: each message to its one handler, commands committed and queries not,
committed events to their subscribers (and nothing when the command fails), several messages
in one unit of work the caller owns."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.bootstrap import in_memory_exchange
from commex.domain.errors import AuctionNotOpen, Forbidden
from commex.domain.events import AuctionCancelled, BidPlaced, Event
from commex.services.accounts import authenticate
from commex.services.commands import CancelAuction, Command, PlaceBid, Register
from commex.services.queries import ListAuctions
from support.engine import auction_command, auction_request, open_auction, register
from support.moments import T0


@pytest.fixture
def bus():  # type: ignore[no-untyped-def]
    return in_memory_exchange(clock=ManualClock(T0), ids=SequentialIds())


def test_committed_events_reach_their_subscribers_in_one_call_each(bus) -> None:  # type: ignore[no-untyped-def]
    heard: list[list[Event]] = []
    bus.subscribe(BidPlaced, heard.append)
    bus.subscribe(AuctionCancelled, heard.append)
    seller = register(bus, "Seller", ["provider"])
    buyer = register(bus, "Buyer", ["recipient"])
    auction = open_auction(bus, seller.id, auction_request())
    bus.handle(PlaceBid(auction.id, buyer.id, "5.00"))
    assert [type(e) for batch in heard for e in batch] == [BidPlaced]
    with pytest.raises(Forbidden):  # a refused command commits and publishes nothing
        bus.handle(CancelAuction(auction.id, buyer.id))
    assert len(heard) == 1


def test_several_messages_in_one_unit_of_work_that_the_caller_owns(bus) -> None:  # type: ignore[no-untyped-def]
    reg = bus.handle(Register("Seller", ("provider",)))
    heard: list[list[Event]] = []
    bus.subscribe(AuctionCancelled, heard.append)
    with bus.unit_of_work() as uow:
        seller = authenticate(uow, reg.token)  # authentication shares the transaction
        opened = bus.handle_in(uow, auction_command(seller.id, auction_request()))
        bus.handle_in(uow, CancelAuction(opened.auction.id, seller.id))
        assert heard == []  # nothing is published before the commit
        uow.commit()
    assert [type(e) for e in heard[0]] == [AuctionCancelled]
    with pytest.raises(AuctionNotOpen):
        bus.handle(PlaceBid(opened.auction.id, reg.account.id, "1.00"))
    with bus.unit_of_work() as uow:  # not committed: gone
        bus.handle_in(uow, auction_command(seller.id, auction_request()))
    assert [s.auction.id for s in bus.handle(ListAuctions())] == [opened.auction.id]


def test_a_message_without_a_handler_is_a_programming_error(bus) -> None:  # type: ignore[no-untyped-def]
    @dataclass(frozen=True)
    class Shout(Command[None]):
        words: str

    with pytest.raises(TypeError, match="no handler for Shout"):
        bus.handle(Shout("hello"))
    with bus.unit_of_work() as uow, pytest.raises(TypeError, match="no handler for PlaceBid"):
        bus.handle_in(uow, PlaceBid("auc_1", "acc_1", "1.00"))  # the bid desk owns its work


def test_in_transaction_subscribers_write_with_the_change_or_stop_it(bus) -> None:  # type: ignore[no-untyped-def]
    seller = register(bus, "Seller", ["provider"])
    buyer = register(bus, "Buyer", ["recipient"])
    auction = open_auction(bus, seller.id, auction_request())
    seen: list[tuple[list[Event], bool]] = []

    def inside(events, uow, deps) -> None:  # type: ignore[no-untyped-def]
        seen.append((list(events), uow.committed))
        if any(e.bid_count == 2 for e in events):
            raise RuntimeError("the subscriber refuses")

    bus.subscribe_in_transaction(BidPlaced, inside)
    bus.handle(PlaceBid(auction.id, buyer.id, "5.00"))
    assert [(type(e), done) for batch, done in seen for e in batch] == [(BidPlaced, False)]
    other = register(bus, "Other", ["recipient"])
    with pytest.raises(RuntimeError, match="refuses"):
        bus.handle(PlaceBid(auction.id, other.id, "6.00"))
    assert bus.handle(ListAuctions())[0].auction.bid_count == 1  # the bid was not committed
