"""A3 sealed pricing, A4 reserve, A7 closing: who may close when, once, ties, contracts, cancel."""

from datetime import timedelta

import pytest

from commex.domain.auctions import Status
from commex.domain.contracts import ContractStatus, start
from commex.domain.errors import AuctionNotOpen, Conflict, Forbidden, InvalidInput
from commex.domain.events import (
    AuctionCancelled,
    AuctionClosed,
    ContractAwarded,
    ContractStarted,
)


def bids(book, *pairs):
    for bidder, amount in pairs:
        book.bid(bidder, amount)


class TestFirstPrice:
    def test_forward_winners_pay_their_own_bids(self, kit):
        book = kit.book("forward", "first-price", quantity=2)
        bids(book, ("alice", "10.00"), ("bob", "12.00"), ("carol", "8.00"))
        assert book.prices(book.close()) == {"bob": "12.00", "alice": "10.00"}

    def test_reverse_winner_is_paid_its_own_bid(self, kit):
        book = kit.book("reverse", "first-price")
        bids(book, ("p1", "50.00"), ("p2", "40.00"), ("p3", "45.00"))
        assert book.prices(book.close()) == {"p2": "40.00"}

    def test_forward_reserve_not_met_means_no_winner(self, kit):
        book = kit.book("forward", "first-price", reserve="5.00")
        bids(book, ("alice", "4.99"), ("bob", "3.00"))
        result = book.close()
        assert result.auction.outcome.winners == ()
        assert result.auction.outcome.note == "reserve not met"
        assert result.contracts == ()

    def test_only_bids_meeting_the_reserve_win(self, kit):
        book = kit.book("forward", "first-price", quantity=3, reserve="5.00")
        bids(book, ("alice", "10.00"), ("bob", "5.00"), ("carol", "4.00"))
        assert book.prices(book.close()) == {"alice": "10.00", "bob": "5.00"}


class TestSecondPrice:
    def test_identical_blocks_all_pay_the_best_losing_bid(self, kit):
        book = kit.book("forward", "second-price", quantity=3)
        bids(
            book,
            ("a", "10.00"),
            ("b", "9.00"),
            ("c", "8.00"),
            ("d", "7.00"),
            ("e", "6.00"),
        )
        assert book.prices(book.close()) == {"a": "7.00", "b": "7.00", "c": "7.00"}

    def test_the_reserve_when_it_is_above_the_best_losing_bid(self, kit):
        book = kit.book("forward", "second-price", quantity=2, reserve="7.50")
        bids(book, ("a", "10.00"), ("b", "9.00"), ("c", "7.00"))
        assert book.prices(book.close()) == {"a": "7.50", "b": "7.50"}

    def test_the_best_losing_bid_when_it_is_above_the_reserve(self, kit):
        book = kit.book("forward", "second-price", quantity=2, reserve="5.00")
        bids(book, ("a", "10.00"), ("b", "9.00"), ("c", "7.00"))
        assert book.prices(book.close()) == {"a": "7.00", "b": "7.00"}

    def test_the_reserve_when_there_is_no_losing_bid(self, kit):
        book = kit.book("forward", "second-price", quantity=3, reserve="5.00")
        bids(book, ("a", "10.00"), ("b", "9.00"))
        assert book.prices(book.close()) == {"a": "5.00", "b": "5.00"}

    def test_the_lowest_winning_bid_with_neither(self, kit):
        book = kit.book("forward", "second-price", quantity=3)
        bids(book, ("a", "10.00"), ("b", "9.00"))
        assert book.prices(book.close()) == {"a": "9.00", "b": "9.00"}

    def test_reserve_not_met(self, kit):
        book = kit.book("forward", "second-price", reserve="20.00")
        bids(book, ("a", "10.00"))
        result = book.close()
        assert result.auction.outcome.winners == ()
        assert result.auction.outcome.note == "reserve not met"

    def test_reverse_price_alone_pays_the_best_losing_amount(self, kit):
        book = kit.book("reverse", "second-price", reserve="100.00")
        bids(book, ("p1", "40.00"), ("p2", "55.00"), ("p3", "70.00"))
        assert book.prices(book.close()) == {"p1": "55.00"}

    def test_reverse_sole_bid_is_paid_the_ceiling_or_its_own_bid(self, kit):
        book = kit.book("reverse", "second-price", reserve="100.00")
        bids(book, ("p1", "40.00"))
        assert book.prices(book.close()) == {"p1": "100.00"}
        book = kit.book("reverse", "second-price")
        bids(book, ("p1", "40.00"))
        assert book.prices(book.close()) == {"p1": "40.00"}


class TestTies:
    def test_forward_tie_goes_to_the_earlier_bid(self, kit):
        book = kit.book("forward", "first-price")
        bids(book, ("alice", "10.00"), ("bob", "9.00"), ("carol", "10.00"))
        assert book.prices(book.close()) == {"alice": "10.00"}

    def test_reverse_tie_goes_to_the_earlier_bid(self, kit):
        book = kit.book("reverse", "second-price")
        bids(book, ("p1", "40.00"), ("p2", "40.00"), ("p3", "50.00"))
        assert book.prices(book.close()) == {"p1": "40.00"}

    def test_second_price_tie_for_the_last_block(self, kit):
        book = kit.book("forward", "second-price", quantity=1)
        bids(book, ("a", "10.00"), ("b", "10.00"))
        assert book.prices(book.close()) == {"a": "10.00"}


class TestContracts:
    def test_forward_one_contract_per_winner_provider_is_the_owner(self, kit):
        book = kit.book("forward", "first-price", quantity=2)
        b1 = book.bid("alice", "10.00")
        b2 = book.bid("bob", "12.00")
        result = book.close()
        winners = {w.bidder_id: w for w in result.auction.outcome.winners}
        assert len(result.contracts) == 2
        by_recipient = {c.recipient_id: c for c in result.contracts}
        assert set(by_recipient) == {"alice", "bob"}
        for c in result.contracts:
            assert c.provider_id == "seller"
            # No usage window: delivery starts at the award.
            assert c.status is ContractStatus.ACTIVE
            assert c.started_at == result.auction.outcome.closed_at
            assert c.terms == book.auction.terms
            assert c.auction_id == book.auction.id
            assert winners[c.recipient_id].contract_id == c.id
        assert by_recipient["alice"].bid_id == b1.id
        assert by_recipient["bob"].bid_id == b2.id
        assert str(by_recipient["bob"].price) == "12.00"
        awarded = [e for e in result.events if isinstance(e, ContractAwarded)]
        assert {e.contract_id for e in awarded} == {c.id for c in result.contracts}
        # Without a window the service starts at once, and the provider is told so.
        started = [e for e in result.events if isinstance(e, ContractStarted)]
        assert {(e.contract_id, e.provider_id) for e in started} == {
            (c.id, "seller") for c in result.contracts
        }
        assert isinstance(result.events[0], AuctionClosed)

    def test_reverse_contract_provider_is_the_bidder(self, kit):
        book = kit.book("reverse", "first-price")
        book.bid("p1", "40.00")
        (contract,) = book.close().contracts
        assert contract.provider_id == "p1"
        assert contract.recipient_id == "buyer"


class TestWhoClosesWhen:
    def test_the_scheduler_closes_at_the_close_time_not_before(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        with pytest.raises(Conflict):
            book.close(at=book.auction.closes_at - timedelta(seconds=1))
        assert book.auction.status is Status.OPEN
        result = book.close(at=book.auction.closes_at)
        assert result.auction.status is Status.CLOSED
        assert result.auction.outcome.closed_by is None
        assert result.auction.outcome.closed_at == book.auction.closes_at

    def test_the_owner_may_not_close_early(self, kit):
        book = kit.book()
        with pytest.raises(Conflict, match="operator"):
            book.close("seller", at=kit.t0 + timedelta(minutes=5), reason="I changed my mind")

    def test_the_owner_closes_once_due(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        result = book.close("seller", at=book.auction.closes_at + timedelta(minutes=1))
        assert result.auction.outcome.closed_by == "seller"
        assert book.prices(result) == {"alice": "10.00"}

    def test_the_operator_closes_early_only_with_a_reason(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        early = kit.t0 + timedelta(minutes=5)
        for reason in (None, "   "):
            with pytest.raises(InvalidInput) as err:
                book.close("op", at=early, reason=reason)
            assert err.value.field == "reason"
        result = book.close("op", at=early, reason="  fraud report  ")
        outcome = result.auction.outcome
        assert outcome.closed_by == "op"
        assert outcome.reason == "fraud report"
        assert outcome.closed_at == early
        assert book.prices(result) == {"alice": "10.00"}

    def test_an_overlong_reason_is_refused(self, kit):
        book = kit.book()
        with pytest.raises(InvalidInput) as err:
            book.close("op", at=kit.t0 + timedelta(minutes=5), reason="x" * 501)
        assert err.value.field == "reason"

    def test_a_stranger_may_not_close(self, kit):
        book = kit.book()
        with pytest.raises(Forbidden):
            book.close(kit.account("mallory", "provider"), at=book.auction.closes_at)

    def test_it_closes_exactly_once(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        first = book.close()
        again = book.close(at=book.auction.closes_at + timedelta(hours=1))
        assert again.contracts == ()
        assert again.events == ()
        assert again.auction.outcome == first.auction.outcome

    def test_a_cancelled_auction_cannot_be_closed(self, kit):
        book = kit.book()
        book.cancel("seller")
        with pytest.raises(AuctionNotOpen):
            book.close()


class TestCancel:
    def test_the_owner_cancels_while_there_are_no_bids(self, kit):
        book = kit.book()
        result = book.cancel("seller")
        assert result.auction.status is Status.CANCELLED
        assert result.auction.cancel_reason == "cancelled by its owner"
        assert result.events == (AuctionCancelled(book.auction.id, "cancelled by its owner"),)

    def test_the_owner_may_not_cancel_once_there_are_bids(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        with pytest.raises(Conflict):
            book.cancel("seller", "too low")
        assert book.auction.status is Status.OPEN

    def test_the_operator_cancels_any_open_auction_with_a_reason(self, kit):
        book = kit.book()
        book.bid("alice", "10.00")
        with pytest.raises(InvalidInput) as err:
            book.cancel("op")
        assert err.value.field == "reason"
        result = book.cancel("op", "duplicate listing")
        assert result.auction.cancel_reason == "duplicate listing"
        assert result.auction.status is Status.CANCELLED

    def test_a_stranger_may_not_cancel(self, kit):
        book = kit.book()
        with pytest.raises(Forbidden):
            book.cancel(kit.account("mallory", "provider"), "because")

    def test_closed_or_cancelled_auctions_cannot_be_cancelled(self, kit):
        closed = kit.book()
        closed.close()
        with pytest.raises(AuctionNotOpen):
            closed.cancel("op", "late")
        cancelled = kit.book()
        cancelled.cancel("seller")
        with pytest.raises(AuctionNotOpen):
            cancelled.cancel("seller")


def test_a_contract_with_a_later_window_starts_when_the_window_opens(kit):
    opens = book_closes(kit) + timedelta(days=2)
    terms = kit.terms(window_start=opens, window_end=opens + timedelta(days=30))
    book = kit.book("forward", "first-price", terms=terms)
    book.bid("alice", "10.00")
    (contract,) = book.close().contracts
    assert (contract.status, contract.started_at) == (ContractStatus.AWARDED, None)
    started = start(contract, opens)
    assert (started.status, started.started_at) == (ContractStatus.ACTIVE, opens)
    assert start(started, opens + timedelta(days=1)) == started


def book_closes(kit):
    return kit.book().auction.closes_at
