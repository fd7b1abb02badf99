"""The auctions module through the message bus over the in-memory unit of work: accounts,
auctions from API-shaped requests, bids, closing (by hand and by the clock), cancelling, what
each viewer sees, and errors."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from commex.adapters.clock import SequentialIds
from commex.adapters.memory import FixedReputations, MemoryUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.accounts import Role
from commex.domain.auctions import Status
from commex.domain.contracts import ContractStatus
from commex.domain.errors import (
    AuctionNotOpen,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from commex.domain.events import ContractStarted
from commex.services.opening import draft_of
from support.engine import (
    auction_command,
    auctions,
    cancel,
    close,
    close_due,
    contract,
    contracts_of,
    open_auction,
    place_bid,
    register,
    start_due,
    view,
    wire,
)
from support.engine import auction_request as req
from support.engine import error_of as err_of
from support.moments import CLOSES, GOOD, T0


class TestCreateAuction:
    def test_from_a_wire_dict(self, ex, who):
        a = open_auction(
            ex,
            who.seller,
            req(format="second-price", quantity=3, reserve="5.00", min_increment="0.50"),
        )
        assert a.owner_id == who.seller
        assert a.status is Status.OPEN
        assert a.closes_at == CLOSES
        assert a.quantity == 3
        assert str(a.reserve) == "5.00"
        assert str(a.min_increment) == "0.50"
        assert view(ex, a.id, who.seller).auction == a

    def test_reverse_with_weight_and_eligibility(self, ex, who):
        a = open_auction(
            ex,
            who.buyer,
            req(
                direction="reverse",
                format="second-price",
                reserve="100.00",
                reputation_weight="0.5",
                eligibility={"min_provider_score": 0.4, "approved_providers": [who.p1]},
            ),
        )
        assert a.reputation_weight == Decimal("0.5")
        assert a.eligibility.approved_providers == {who.p1}

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"reserve": 5.0}, "reserve"),
            ({"reserve": "5.001"}, "reserve"),
            ({"min_increment": 0.5}, "min_increment"),
            ({"currency": "euro"}, "currency"),
            ({"direction": "sideways"}, "direction"),
            ({"format": "dutch"}, "format"),
            ({"closes_at": ...}, "closes_at"),
            ({"closes_at": "2026-03-01T13:00:00"}, "closes_at"),
            ({"closes_at": "2026-03-01T11:00:00Z"}, "closes_at"),
            ({"title": 7}, "title"),
            ({"terms": {"service": "voice", "duration_s": 0}}, "terms.duration_s"),
            ({"terms": {"service": "voice", "duration_s": 60, "steps": ["vad"]}}, "terms.steps"),
            ({"quantity": 0}, "quantity"),
            ({"format": "english", "quantity": 2}, "quantity"),
            ({"soft_close_s": 30}, "soft_close_s"),
            ({"reputation_weight": "0.5"}, "reputation_weight"),
            ({"eligibility": {"min_provider_score": 0.5}}, "eligibility"),
        ],
    )
    def test_bad_forward_requests_name_the_field(self, ex, who, changes, field):
        err = err_of(InvalidInput, open_auction, ex, who.seller, req(**changes))
        assert err.field == field
        assert auctions(ex) == []

    def test_reverse_quantity_and_recipient_eligibility_are_refused(self, ex, who):
        r = {"direction": "reverse"}
        err = err_of(InvalidInput, open_auction, ex, who.buyer, req(**r, quantity=2))
        assert err.field == "quantity"
        bad = req(**r, eligibility={"min_recipient_score": 0.5})
        assert err_of(InvalidInput, open_auction, ex, who.buyer, bad).field == (
            "eligibility.min_recipient_score"
        )

    def test_unknown_fields_are_refused(self, ex, who):
        with pytest.raises(TypeError, match="colour"):
            open_auction(ex, who.seller, req(colour="red"))
        with pytest.raises(TypeError, match="nice"):
            open_auction(ex, who.seller, req(eligibility={"nice": True}))
        assert auctions(ex) == []

    def test_unknown_approved_providers_are_refused(self, ex, who):
        bad = req(direction="reverse", eligibility={"approved_providers": [who.p1, "acc_ghost"]})
        err = err_of(InvalidInput, open_auction, ex, who.buyer, bad)
        assert err.field == "eligibility.approved_providers"
        assert "acc_ghost" in err.message

    def test_wrong_role_and_unknown_owner(self, ex, who):
        err_of(Forbidden, open_auction, ex, who.buyer, req())
        err_of(Forbidden, open_auction, ex, who.seller, req(direction="reverse"))
        err_of(NotFound, open_auction, ex, "acc_ghost", req())


class TestClosing:
    @pytest.fixture
    def auction(self, ex, who):
        a = open_auction(ex, who.seller, req(format="second-price", quantity=2))
        for bidder, amount in ((who.alice, "10.00"), (who.bob, "12.00"), (who.carol, "8.00")):
            place_bid(ex, a.id, bidder, amount)
        return a

    def test_close_due_closes_at_the_time_not_before(self, ex, who, clock, auction):
        clock.set(CLOSES - timedelta(seconds=1))
        assert close_due(ex) == []
        assert view(ex, auction.id, None).auction.status is Status.OPEN
        clock.set(CLOSES)
        (closed,) = close_due(ex)
        assert closed.id == auction.id
        assert closed.status is Status.CLOSED
        assert closed.outcome.closed_by is None
        prices = {w.bidder_id: str(w.price) for w in closed.outcome.winners}
        assert prices == {who.bob: "8.00", who.alice: "8.00"}
        assert close_due(ex) == []

    def test_no_bid_after_the_close_time_even_before_the_scheduler_runs(
        self, ex, who, clock, auction
    ):
        clock.set(CLOSES)
        err_of(AuctionNotOpen, place_bid, ex, auction.id, who.carol, "50.00")

    def test_no_bid_after_close(self, ex, who, clock, auction):
        clock.set(CLOSES)
        close_due(ex)
        err_of(AuctionNotOpen, place_bid, ex, auction.id, who.carol, "50.00")

    def test_one_contract_per_winner_with_the_right_sides(self, ex, who, clock, auction):
        clock.set(CLOSES)
        close_due(ex)
        contracts = contracts_of(ex, who.seller)
        assert {c.recipient_id for c in contracts} == {who.alice, who.bob}
        assert all(c.provider_id == who.seller for c in contracts)
        assert all(str(c.price) == "8.00" for c in contracts)
        for c in contracts:
            assert contract(ex, c.id, c.recipient_id) == c
            assert contract(ex, c.id, who.op) == c
            err_of(NotFound, contract, ex, c.id, who.carol)
        assert contracts_of(ex, who.carol) == []

    def test_closing_twice_returns_the_same_outcome_and_no_new_contracts(
        self, ex, who, clock, auction
    ):
        clock.set(CLOSES)
        first = close(ex, auction.id, who.seller)
        clock.advance(60)
        again = close(ex, auction.id, who.op)
        assert again.outcome == first.outcome
        assert again.outcome.closed_by == who.seller
        assert len(contracts_of(ex, who.seller)) == 2
        assert close_due(ex) == []

    def test_owner_may_not_close_early(self, ex, who, auction):
        err_of(Conflict, close, ex, auction.id, who.seller)
        err_of(Forbidden, close, ex, auction.id, who.alice)
        err_of(Conflict, close, ex, auction.id, None)
        assert view(ex, auction.id, None).auction.status is Status.OPEN

    def test_operator_closes_early_with_a_reason(self, ex, who, auction):
        assert err_of(InvalidInput, close, ex, auction.id, who.op).field == "reason"
        closed = close(ex, auction.id, who.op, "suspected shill bidding")
        assert closed.outcome.reason == "suspected shill bidding"
        assert closed.outcome.closed_by == who.op
        assert closed.outcome.closed_at == T0
        out = wire(ex, auction.id, None)["outcome"]
        assert out["reason"] == "suspected shill bidding"
        assert len(out["winners"]) == 2

    def test_reverse_contract_sides(self, ex, who, clock):
        a = open_auction(ex, who.buyer, req(direction="reverse"))
        place_bid(ex, a.id, who.p1, "40.00")
        clock.set(CLOSES)
        close_due(ex)
        (c,) = contracts_of(ex, who.buyer)
        assert (c.provider_id, c.recipient_id) == (who.p1, who.buyer)

    def test_reserve_not_met_is_a_result_not_an_error(self, ex, who, clock):
        a = open_auction(ex, who.seller, req(reserve="50.00"))
        place_bid(ex, a.id, who.alice, "10.00")
        clock.set(CLOSES)
        (closed,) = close_due(ex)
        assert closed.outcome.winners == ()
        assert closed.outcome.note == "reserve not met"
        assert contracts_of(ex, who.seller) == []

    def test_soft_close_moves_the_scheduled_close(self, ex, who, clock):
        a = open_auction(ex, who.seller, req(format="english", soft_close_s=120))
        clock.set(CLOSES - timedelta(seconds=30))
        place_bid(ex, a.id, who.alice, "10.00")
        clock.set(CLOSES)
        assert close_due(ex) == []
        place_bid(ex, a.id, who.bob, "11.00")
        assert view(ex, a.id, None).auction.closes_at == CLOSES + timedelta(seconds=120)
        clock.set(CLOSES + timedelta(seconds=120))
        (closed,) = close_due(ex)
        assert [w.bidder_id for w in closed.outcome.winners] == [who.bob]


class TestCancel:
    def test_owner_cancels_without_bids(self, ex, who, clock):
        a = open_auction(ex, who.seller, req())
        cancelled = cancel(ex, a.id, who.seller)
        assert cancelled.status is Status.CANCELLED
        err_of(AuctionNotOpen, place_bid, ex, a.id, who.alice, "10.00")
        clock.set(CLOSES)
        assert close_due(ex) == []
        err_of(AuctionNotOpen, close, ex, a.id, who.op)
        assert wire(ex, a.id, None)["cancel_reason"] == "cancelled by its owner"

    def test_owner_cannot_cancel_with_bids_operator_can_with_a_reason(self, ex, who):
        a = open_auction(ex, who.seller, req())
        place_bid(ex, a.id, who.alice, "10.00")
        err_of(Conflict, cancel, ex, a.id, who.seller)
        err_of(Forbidden, cancel, ex, a.id, who.alice, "mine")
        assert err_of(InvalidInput, cancel, ex, a.id, who.op).field == "reason"
        assert view(ex, a.id, None).auction.status is Status.OPEN
        cancelled = cancel(ex, a.id, who.op, "terms were misleading")
        assert cancelled.cancel_reason == "terms were misleading"
        assert contracts_of(ex, who.alice) == []


class TestVisibility:
    @pytest.fixture
    def sealed(self, ex, who):
        a = open_auction(ex, who.seller, req(format="second-price", reserve="9.00"))
        place_bid(ex, a.id, who.alice, "10.00")
        place_bid(ex, a.id, who.bob, "12.00")
        place_bid(ex, a.id, who.alice, "11.00")
        return a

    def test_a_bidder_sees_only_its_own_bids_and_the_count(self, ex, who, sealed):
        view = wire(ex, sealed.id, who.alice)
        assert view["bid_count"] == 2
        assert {b["bidder"]["id"] for b in view["bids"]} == {who.alice}
        assert [(b["amount"], b["active"]) for b in view["bids"]] == [
            ("11.00", True),
            ("10.00", False),
        ]
        assert "12.00" not in json.dumps(view)
        assert [b["amount"] for b in wire(ex, sealed.id, who.bob)["bids"]] == ["12.00"]

    @pytest.mark.parametrize("viewer", ["seller", "carol", "op", None])
    def test_owner_stranger_and_anonymous_see_no_bids(self, ex, who, sealed, viewer):
        view = wire(ex, sealed.id, getattr(who, viewer) if viewer else None)
        assert view["bids"] == []
        assert view["bid_count"] == 2
        assert "outcome" not in view

    def test_after_the_close_everyone_sees_everything(self, ex, who, clock, sealed):
        clock.set(CLOSES)
        close_due(ex)
        for viewer in (who.carol, who.seller, None):
            view = wire(ex, sealed.id, viewer)
            assert sorted(b["amount"] for b in view["bids"]) == ["10.00", "11.00", "12.00"]
            (winner,) = view["outcome"]["winners"]
            assert winner["bidder_id"] == who.bob
            assert winner["price"] == "11.00"
            assert winner["contract_id"]
            assert view["bids"][0]["rank"] == 1

    def test_a_forward_reserve_is_shown_to_its_owner_only(self, ex, who, sealed):
        assert wire(ex, sealed.id, who.seller)["reserve"] == "9.00"
        for viewer in (who.alice, who.carol, None):
            view = wire(ex, sealed.id, viewer)
            assert "reserve" not in view
            assert "9.00" not in json.dumps(view)

    def test_a_reverse_ceiling_is_public(self, ex, who):
        a = open_auction(ex, who.buyer, req(direction="reverse", reserve="80.00"))
        for viewer in (who.p1, who.buyer, None):
            assert wire(ex, a.id, viewer)["reserve"] == "80.00"

    def test_a_proxy_limit_is_shown_to_its_bidder_only(self, ex, who, clock):
        a = open_auction(ex, who.seller, req(format="english", min_increment="1.00"))
        place_bid(ex, a.id, who.alice, "10.00", "77.00")
        place_bid(ex, a.id, who.bob, "15.00")
        own = wire(ex, a.id, who.alice)
        assert [b.get("max_amount") for b in own["bids"] if b["bidder"]["id"] == who.alice] == [
            None,
            "77.00",
        ]
        for stage in ("open", "closed"):
            for viewer in (who.bob, who.carol, who.seller, who.op, None):
                text = json.dumps(wire(ex, a.id, viewer))
                assert "77.00" not in text, (stage, viewer)
                assert "max_amount" not in text
            clock.set(CLOSES)
            close_due(ex)
        assert "77.00" in json.dumps(wire(ex, a.id, who.alice))

    def test_the_ranking_rule_and_weight_are_shown_to_every_bidder(self, ex, who, reps, clock):
        reps.set(who.p1, Role.PROVIDER, GOOD)
        a = open_auction(
            ex, who.buyer, req(direction="reverse", format="first-price", reputation_weight="0.5")
        )
        place_bid(ex, a.id, who.p1, "100.00")
        place_bid(ex, a.id, who.p2, "90.00")
        view = wire(ex, a.id, who.p2)
        assert "0.5" in view["ranking_rule"]
        assert view["reputation_weight"] == "0.5000"
        clock.set(CLOSES)
        (closed,) = close_due(ex)
        assert [w.bidder_id for w in closed.outcome.winners] == [who.p1]
        bids = wire(ex, a.id, None)["bids"]
        assert [(b["bidder"]["id"], b["rank"]) for b in bids] == [(who.p1, 1), (who.p2, 2)]
        assert bids[1]["effective_price"] == "135.0000"

    def test_view_of_unknown_auction(self, ex):
        err_of(NotFound, view, ex, "auc_ghost", None)

    def test_auction_list_filters_by_status(self, ex, who, clock):
        a = open_auction(ex, who.seller, req())
        clock.advance(1)
        b = open_auction(ex, who.seller, req(closes_at="2026-03-02T12:00:00Z"))
        clock.set(CLOSES)
        close_due(ex)
        assert [s.auction.id for s in auctions(ex, Status.OPEN)] == [b.id]
        assert [s.auction.id for s in auctions(ex, Status.CLOSED)] == [a.id]
        assert [s.auction.id for s in auctions(ex)] == [b.id, a.id]
        assert auctions(ex)[0].owner_name == "Seller"
        assert err_of(InvalidInput, auctions, ex, None, 0).field == "limit"


class _RacingUnitOfWork(MemoryUnitOfWorkFactory):
    """Runs ``before_call[n]`` just before the n-th unit of work opens, so a test can put
    another caller's action between two steps of one use case."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.before_call = {}

    def __call__(self, *, write=True):
        self.calls += 1
        action = self.before_call.pop(self.calls, None)
        if action is not None:
            action()
        return super().__call__(write=write)


def test_close_due_survives_a_cancel_between_listing_and_closing(clock):
    uow = _RacingUnitOfWork()
    ex = make_bus(uow, clock=clock, ids=SequentialIds(), reputations=FixedReputations())
    seller = register(ex, "Seller", ["provider"]).id
    alice = register(ex, "Alice", ["recipient"]).id
    op = register(ex, "Op", ["operator"], allow_operator=True).id
    first = open_auction(ex, seller, req(closes_at="2026-03-01T12:30:00Z"))
    second = open_auction(ex, seller, req())
    place_bid(ex, second.id, alice, "10.00")
    clock.set(CLOSES)
    # close_due lists both due auctions, then the operator cancels the first one before the
    # scheduler reaches it (another process in production)
    uow.before_call[uow.calls + 2] = lambda: cancel(ex, first.id, op, "listed in error")
    closed = close_due(ex)
    # the scheduler must still close every other due auction, once
    assert view(ex, first.id, None).auction.status is Status.CANCELLED
    assert view(ex, second.id, None).auction.status is Status.CLOSED
    assert second.id in [a.id for a in closed]


def test_null_means_absent_for_every_optional_auction_field():
    draft = draft_of(
        auction_command(
            "acc_1",
            {
                "direction": "forward",
                "format": "second-price",
                "title": "t",
                "terms": {"service": "voice", "duration_s": 60, "max_members": None},
                "currency": "EUR",
                "closes_at": "2030-01-01T00:00:00Z",
                "quantity": None,
                "soft_close_s": None,
                "reputation_weight": None,
                "reserve": None,
                "eligibility": None,
            },
        )
    )
    assert (draft.quantity, draft.soft_close_s, draft.terms.max_members) == (1, 0, 1)
    assert draft.reputation_weight == 0 and draft.reserve is None


def test_a_big_closed_auction_shows_its_best_bids_and_the_viewers_own(ex, who, clock):
    auction = open_auction(ex, who.seller, req(quantity=2))
    bidders = [register(ex, f"Bidder {i}", ["recipient"]).id for i in range(250)]
    for i, bidder in enumerate(bidders):
        place_bid(ex, auction.id, bidder, f"{10 + i}.00")
    clock.set(datetime(2026, 3, 1, 13, 0, 1, tzinfo=UTC))
    close(ex, auction.id, who.seller)
    shown = wire(ex, auction.id, bidders[0])["bids"]
    amounts = [b["amount"] for b in shown]
    assert len(shown) == 201  # the 200 best, and the viewer's own (the lowest) as well
    assert amounts[:3] == ["259.00", "258.00", "257.00"]
    assert "10.00" in amounts
    assert [b["rank"] for b in shown[:2]] == [1, 2]


def test_a_contract_starts_when_its_window_opens_and_the_provider_is_told(clock, reps):
    """start_due activates the contract at its window and publishes ContractStarted."""
    heard: list[object] = []
    ex = make_bus(MemoryUnitOfWorkFactory(), clock=clock, ids=SequentialIds(), reputations=reps)
    ex.subscribe(ContractStarted, heard.extend)
    seller = register(ex, "Seller", ["provider"]).id
    buyer = register(ex, "Buyer", ["recipient"]).id
    window = {"window_start": (T0 + timedelta(hours=3)).isoformat()}
    window["window_end"] = (T0 + timedelta(hours=5)).isoformat()
    auction = open_auction(
        ex,
        seller,
        {
            "direction": "forward",
            "format": "first-price",
            "title": "Evening block",
            "terms": {"service": "voice", "duration_s": 600, **window},
            "currency": "EUR",
            "closes_at": CLOSES.isoformat(),
        },
    )
    place_bid(ex, auction.id, buyer, "5.00")
    clock.advance(2 * 3600)
    close_due(ex)
    (contract,) = contracts_of(ex, buyer)
    assert contract.status is ContractStatus.AWARDED
    assert start_due(ex) == []  # the window has not opened yet
    clock.advance(3600)
    (started,) = start_due(ex)
    assert (started.id, started.status, started.started_at) == (
        contract.id,
        ContractStatus.ACTIVE,
        T0 + timedelta(hours=3),
    )
    told = [e for e in heard if isinstance(e, ContractStarted)]
    assert told == [ContractStarted(contract.id, seller, buyer, T0 + timedelta(hours=3))]
