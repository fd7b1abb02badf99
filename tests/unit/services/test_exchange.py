"""The Exchange facade over the in-memory unit of work: accounts, auctions from wire dicts,
bids, closing (by hand and by the clock), cancelling, what each viewer sees, and errors."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import FixedReputations, MemoryUnitOfWorkFactory
from commex.bootstrap import in_memory_exchange
from commex.domain.accounts import Role
from commex.domain.auctions import Status
from commex.domain.contracts import ContractStatus
from commex.domain.errors import (
    AuctionNotOpen,
    BidRejected,
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
    NotFound,
)
from commex.domain.events import ContractStarted
from commex.domain.reputation import Reputation
from commex.services.exchange import Exchange
from commex.services.requests import parse_auction_request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLOSES = T0 + timedelta(hours=1)
GOOD = Reputation(positive=40, negative=0, count=40)
POOR = Reputation(positive=1, negative=9, count=10)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def reps():
    return FixedReputations()


@pytest.fixture
def ex(clock, reps):
    return in_memory_exchange(clock=clock, ids=SequentialIds(), reputations=reps)


@pytest.fixture
def who(ex):
    def make(name, *roles):
        return ex.create_account(name, list(roles)).id

    return SimpleNamespace(
        seller=make("Seller", "provider"),
        buyer=make("Buyer", "recipient"),
        alice=make("Alice", "recipient"),
        bob=make("Bob", "recipient"),
        carol=make("Carol", "recipient"),
        p1=make("P One", "provider"),
        p2=make("P Two", "provider"),
        op=ex.create_account("Operator", ["operator"], allow_operator=True).id,
    )


def req(**kw):
    base = {
        "direction": "forward",
        "format": "first-price",
        "title": "1000 minutes of voice",
        "terms": {"service": "voice", "duration_s": 60000},
        "currency": "EUR",
        "closes_at": "2026-03-01T13:00:00Z",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


def err_of(cls, fn, *args, **kw):
    with pytest.raises(cls) as err:
        fn(*args, **kw)
    return err.value


def wire(ex, auction_id, viewer):
    return ex.view(auction_id, viewer).to_dict()


class TestAccounts:
    def test_create_and_read_back(self, ex):
        acc = ex.create_account("  Ada  ", ["provider", "recipient"])
        assert acc.name == "Ada"
        assert acc.roles == {Role.PROVIDER, Role.RECIPIENT}
        assert acc.created_at == T0
        assert ex.account(acc.id) == acc

    def test_the_operator_role_is_granted_only_when_allowed(self, ex):
        assert err_of(InvalidInput, ex.create_account, "Eve", ["operator"]).field == "roles"
        op = ex.create_account("Op", ["operator"], allow_operator=True)
        assert op.is_operator

    @pytest.mark.parametrize(
        ("name", "roles", "field"),
        [("", ["provider"], "name"), ("X", [], "roles"), ("X", ["buyer"], "roles")],
    )
    def test_bad_input_names_the_field(self, ex, name, roles, field):
        assert err_of(InvalidInput, ex.create_account, name, roles).field == field

    def test_unknown_account(self, ex):
        err_of(NotFound, ex.account, "acc_nope")


class TestCreateAuction:
    def test_from_a_wire_dict(self, ex, who):
        a = ex.create_auction(
            who.seller,
            req(format="second-price", quantity=3, reserve="5.00", min_increment="0.50"),
        )
        assert a.owner_id == who.seller
        assert a.status is Status.OPEN
        assert a.closes_at == CLOSES
        assert a.quantity == 3
        assert str(a.reserve) == "5.00"
        assert str(a.min_increment) == "0.50"
        assert ex.view(a.id, who.seller).auction == a

    def test_reverse_with_weight_and_eligibility(self, ex, who):
        a = ex.create_auction(
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
            ({"eligibility": {"nice": True}}, "eligibility"),
        ],
    )
    def test_bad_forward_requests_name_the_field(self, ex, who, changes, field):
        err = err_of(InvalidInput, ex.create_auction, who.seller, req(**changes))
        assert err.field == field
        assert ex.auctions() == []

    def test_reverse_quantity_and_recipient_eligibility_are_refused(self, ex, who):
        r = {"direction": "reverse"}
        err = err_of(InvalidInput, ex.create_auction, who.buyer, req(**r, quantity=2))
        assert err.field == "quantity"
        bad = req(**r, eligibility={"min_recipient_score": 0.5})
        assert err_of(InvalidInput, ex.create_auction, who.buyer, bad).field == (
            "eligibility.min_recipient_score"
        )

    def test_unknown_fields_are_refused(self, ex, who):
        err = err_of(InvalidInput, ex.create_auction, who.seller, req(colour="red"))
        assert "colour" in err.message

    def test_unknown_approved_providers_are_refused(self, ex, who):
        bad = req(direction="reverse", eligibility={"approved_providers": [who.p1, "acc_ghost"]})
        err = err_of(InvalidInput, ex.create_auction, who.buyer, bad)
        assert err.field == "eligibility.approved_providers"
        assert "acc_ghost" in err.message

    def test_wrong_role_and_unknown_owner(self, ex, who):
        err_of(Forbidden, ex.create_auction, who.buyer, req())
        err_of(Forbidden, ex.create_auction, who.seller, req(direction="reverse"))
        err_of(NotFound, ex.create_auction, "acc_ghost", req())


class TestBids:
    def test_amounts_are_decimal_strings(self, ex, who):
        a = ex.create_auction(who.seller, req())
        bid = ex.place_bid(a.id, who.alice, "12.5")
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
        a = ex.create_auction(who.seller, req(format="english"))
        err = err_of(InvalidInput, ex.place_bid, a.id, who.alice, amount, limit)
        assert err.field == field
        assert wire(ex, a.id, who.alice)["bid_count"] == 0

    def test_unknown_auction_or_bidder(self, ex, who):
        a = ex.create_auction(who.seller, req())
        err_of(NotFound, ex.place_bid, "auc_ghost", who.alice, "1.00")
        err_of(NotFound, ex.place_bid, a.id, "acc_ghost", "1.00")

    def test_no_bid_on_own_auction_or_in_the_wrong_role(self, ex, who):
        a = ex.create_auction(who.seller, req())
        err_of(Forbidden, ex.place_bid, a.id, who.seller, "1.00")
        err_of(Forbidden, ex.place_bid, a.id, who.p1, "1.00")
        err_of(Forbidden, ex.place_bid, a.id, who.op, "1.00")

    def test_a_refused_bid_leaves_nothing_behind(self, ex, who):
        a = ex.create_auction(who.seller, req(format="english", min_increment="1.00"))
        ex.place_bid(a.id, who.alice, "10.00", "30.00")
        err = err_of(BidRejected, ex.place_bid, a.id, who.bob, "10.50")
        assert "11.00" in err.message
        view = wire(ex, a.id, who.bob)
        assert view["bid_count"] == 1
        assert [b["amount"] for b in view["bids"]] == ["10.00"]

    def test_english_proxy_through_the_exchange(self, ex, who):
        a = ex.create_auction(who.seller, req(format="english", min_increment="1.00"))
        ex.place_bid(a.id, who.alice, "10.00", "30.00")
        ex.place_bid(a.id, who.bob, "11.00")
        view = wire(ex, a.id, who.carol)
        assert view["standing_price"] == "12.00"
        assert view["leader"]["id"] == who.alice
        assert view["bid_count"] == 3
        ex.place_bid(a.id, who.carol, "13.00", "40.00")
        ex.clock.set(CLOSES)
        (closed,) = ex.close_due()
        (winner,) = closed.outcome.winners
        assert (winner.bidder_id, str(winner.price)) == (who.carol, "31.00")

    def test_eligibility_uses_the_reputation_source(self, ex, who, reps):
        reps.set(who.p1, Role.PROVIDER, POOR)
        reps.set(who.p2, Role.PROVIDER, GOOD)
        a = ex.create_auction(
            who.buyer, req(direction="reverse", eligibility={"min_provider_score": 0.6})
        )
        err = err_of(NotEligible, ex.place_bid, a.id, who.p1, "10.00")
        assert "0.60" in err.message
        ex.place_bid(a.id, who.p2, "10.00")
        assert wire(ex, a.id, who.p2)["bid_count"] == 1

    def test_min_recipient_score_and_approved_providers(self, ex, who, reps):
        reps.set(who.alice, Role.RECIPIENT, POOR)
        fwd = ex.create_auction(who.seller, req(eligibility={"min_recipient_score": 0.3}))
        err_of(NotEligible, ex.place_bid, fwd.id, who.alice, "10.00")
        ex.place_bid(fwd.id, who.bob, "10.00")
        rev = ex.create_auction(
            who.buyer, req(direction="reverse", eligibility={"approved_providers": [who.p2]})
        )
        err_of(NotEligible, ex.place_bid, rev.id, who.p1, "10.00")
        ex.place_bid(rev.id, who.p2, "10.00")

    def test_reverse_ceiling_is_enforced(self, ex, who):
        a = ex.create_auction(who.buyer, req(direction="reverse", reserve="100.00"))
        assert err_of(BidRejected, ex.place_bid, a.id, who.p1, "100.01").field == "amount"
        ex.place_bid(a.id, who.p2, "99.99")
        ex.clock.set(CLOSES)
        closed = ex.close(a.id, None)
        assert [str(w.price) for w in closed.outcome.winners] == ["99.99"]


class TestClosing:
    @pytest.fixture
    def auction(self, ex, who):
        a = ex.create_auction(who.seller, req(format="second-price", quantity=2))
        for bidder, amount in ((who.alice, "10.00"), (who.bob, "12.00"), (who.carol, "8.00")):
            ex.place_bid(a.id, bidder, amount)
        return a

    def test_close_due_closes_at_the_time_not_before(self, ex, who, clock, auction):
        clock.set(CLOSES - timedelta(seconds=1))
        assert ex.close_due() == []
        assert ex.view(auction.id, None).auction.status is Status.OPEN
        clock.set(CLOSES)
        (closed,) = ex.close_due()
        assert closed.id == auction.id
        assert closed.status is Status.CLOSED
        assert closed.outcome.closed_by is None
        prices = {w.bidder_id: str(w.price) for w in closed.outcome.winners}
        assert prices == {who.bob: "8.00", who.alice: "8.00"}
        assert ex.close_due() == []

    def test_no_bid_after_the_close_time_even_before_the_scheduler_runs(
        self, ex, who, clock, auction
    ):
        clock.set(CLOSES)
        err_of(AuctionNotOpen, ex.place_bid, auction.id, who.carol, "50.00")

    def test_no_bid_after_close(self, ex, who, clock, auction):
        clock.set(CLOSES)
        ex.close_due()
        err_of(AuctionNotOpen, ex.place_bid, auction.id, who.carol, "50.00")

    def test_one_contract_per_winner_with_the_right_sides(self, ex, who, clock, auction):
        clock.set(CLOSES)
        ex.close_due()
        contracts = ex.contracts_of(who.seller)
        assert {c.recipient_id for c in contracts} == {who.alice, who.bob}
        assert all(c.provider_id == who.seller for c in contracts)
        assert all(str(c.price) == "8.00" for c in contracts)
        for c in contracts:
            assert ex.contract(c.id, c.recipient_id) == c
            assert ex.contract(c.id, who.op) == c
            err_of(NotFound, ex.contract, c.id, who.carol)
        assert ex.contracts_of(who.carol) == []

    def test_closing_twice_returns_the_same_outcome_and_no_new_contracts(
        self, ex, who, clock, auction
    ):
        clock.set(CLOSES)
        first = ex.close(auction.id, who.seller)
        clock.advance(60)
        again = ex.close(auction.id, who.op)
        assert again.outcome == first.outcome
        assert again.outcome.closed_by == who.seller
        assert len(ex.contracts_of(who.seller)) == 2
        assert ex.close_due() == []

    def test_owner_may_not_close_early(self, ex, who, auction):
        err_of(Conflict, ex.close, auction.id, who.seller)
        err_of(Forbidden, ex.close, auction.id, who.alice)
        err_of(Conflict, ex.close, auction.id, None)
        assert ex.view(auction.id, None).auction.status is Status.OPEN

    def test_operator_closes_early_with_a_reason(self, ex, who, auction):
        assert err_of(InvalidInput, ex.close, auction.id, who.op).field == "reason"
        closed = ex.close(auction.id, who.op, "suspected shill bidding")
        assert closed.outcome.reason == "suspected shill bidding"
        assert closed.outcome.closed_by == who.op
        assert closed.outcome.closed_at == T0
        out = wire(ex, auction.id, None)["outcome"]
        assert out["reason"] == "suspected shill bidding"
        assert len(out["winners"]) == 2

    def test_reverse_contract_sides(self, ex, who, clock):
        a = ex.create_auction(who.buyer, req(direction="reverse"))
        ex.place_bid(a.id, who.p1, "40.00")
        clock.set(CLOSES)
        ex.close_due()
        (c,) = ex.contracts_of(who.buyer)
        assert (c.provider_id, c.recipient_id) == (who.p1, who.buyer)

    def test_reserve_not_met_is_a_result_not_an_error(self, ex, who, clock):
        a = ex.create_auction(who.seller, req(reserve="50.00"))
        ex.place_bid(a.id, who.alice, "10.00")
        clock.set(CLOSES)
        (closed,) = ex.close_due()
        assert closed.outcome.winners == ()
        assert closed.outcome.note == "reserve not met"
        assert ex.contracts_of(who.seller) == []

    def test_soft_close_moves_the_scheduled_close(self, ex, who, clock):
        a = ex.create_auction(who.seller, req(format="english", soft_close_s=120))
        clock.set(CLOSES - timedelta(seconds=30))
        ex.place_bid(a.id, who.alice, "10.00")
        clock.set(CLOSES)
        assert ex.close_due() == []
        ex.place_bid(a.id, who.bob, "11.00")
        assert ex.view(a.id, None).auction.closes_at == CLOSES + timedelta(seconds=120)
        clock.set(CLOSES + timedelta(seconds=120))
        (closed,) = ex.close_due()
        assert [w.bidder_id for w in closed.outcome.winners] == [who.bob]


class TestCancel:
    def test_owner_cancels_without_bids(self, ex, who, clock):
        a = ex.create_auction(who.seller, req())
        cancelled = ex.cancel(a.id, who.seller)
        assert cancelled.status is Status.CANCELLED
        err_of(AuctionNotOpen, ex.place_bid, a.id, who.alice, "10.00")
        clock.set(CLOSES)
        assert ex.close_due() == []
        err_of(AuctionNotOpen, ex.close, a.id, who.op)
        assert wire(ex, a.id, None)["cancel_reason"] == "cancelled by its owner"

    def test_owner_cannot_cancel_with_bids_operator_can_with_a_reason(self, ex, who):
        a = ex.create_auction(who.seller, req())
        ex.place_bid(a.id, who.alice, "10.00")
        err_of(Conflict, ex.cancel, a.id, who.seller)
        err_of(Forbidden, ex.cancel, a.id, who.alice, "mine")
        assert err_of(InvalidInput, ex.cancel, a.id, who.op).field == "reason"
        assert ex.view(a.id, None).auction.status is Status.OPEN
        cancelled = ex.cancel(a.id, who.op, "terms were misleading")
        assert cancelled.cancel_reason == "terms were misleading"
        assert ex.contracts_of(who.alice) == []


class TestVisibility:
    @pytest.fixture
    def sealed(self, ex, who):
        a = ex.create_auction(who.seller, req(format="second-price", reserve="9.00"))
        ex.place_bid(a.id, who.alice, "10.00")
        ex.place_bid(a.id, who.bob, "12.00")
        ex.place_bid(a.id, who.alice, "11.00")
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
        ex.close_due()
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
        a = ex.create_auction(who.buyer, req(direction="reverse", reserve="80.00"))
        for viewer in (who.p1, who.buyer, None):
            assert wire(ex, a.id, viewer)["reserve"] == "80.00"

    def test_a_proxy_limit_is_shown_to_its_bidder_only(self, ex, who, clock):
        a = ex.create_auction(who.seller, req(format="english", min_increment="1.00"))
        ex.place_bid(a.id, who.alice, "10.00", "77.00")
        ex.place_bid(a.id, who.bob, "15.00")
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
            ex.close_due()
        assert "77.00" in json.dumps(wire(ex, a.id, who.alice))

    def test_the_ranking_rule_and_weight_are_shown_to_every_bidder(self, ex, who, reps, clock):
        reps.set(who.p1, Role.PROVIDER, GOOD)
        a = ex.create_auction(
            who.buyer, req(direction="reverse", format="first-price", reputation_weight="0.5")
        )
        ex.place_bid(a.id, who.p1, "100.00")
        ex.place_bid(a.id, who.p2, "90.00")
        view = wire(ex, a.id, who.p2)
        assert "0.5" in view["ranking_rule"]
        assert view["reputation_weight"] == "0.5000"
        clock.set(CLOSES)
        (closed,) = ex.close_due()
        assert [w.bidder_id for w in closed.outcome.winners] == [who.p1]
        bids = wire(ex, a.id, None)["bids"]
        assert [(b["bidder"]["id"], b["rank"]) for b in bids] == [(who.p1, 1), (who.p2, 2)]
        assert bids[1]["effective_price"] == "135.0000"

    def test_view_of_unknown_auction(self, ex):
        err_of(NotFound, ex.view, "auc_ghost", None)

    def test_auction_list_filters_by_status(self, ex, who, clock):
        a = ex.create_auction(who.seller, req())
        clock.advance(1)
        b = ex.create_auction(who.seller, req(closes_at="2026-03-02T12:00:00Z"))
        clock.set(CLOSES)
        ex.close_due()
        assert [s.auction.id for s in ex.auctions(Status.OPEN)] == [b.id]
        assert [s.auction.id for s in ex.auctions(Status.CLOSED)] == [a.id]
        assert [s.auction.id for s in ex.auctions()] == [b.id, a.id]
        assert ex.auctions()[0].owner_name == "Seller"
        assert err_of(InvalidInput, ex.auctions, None, 0).field == "limit"


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
    ex = Exchange(uow, clock, SequentialIds(), FixedReputations())
    seller = ex.create_account("Seller", ["provider"]).id
    alice = ex.create_account("Alice", ["recipient"]).id
    op = ex.create_account("Op", ["operator"], allow_operator=True).id
    first = ex.create_auction(seller, req(closes_at="2026-03-01T12:30:00Z"))
    second = ex.create_auction(seller, req())
    ex.place_bid(second.id, alice, "10.00")
    clock.set(CLOSES)
    # close_due lists both due auctions, then the operator cancels the first one before the
    # scheduler reaches it (another process in production)
    uow.before_call[uow.calls + 2] = lambda: ex.cancel(first.id, op, "listed in error")
    closed = ex.close_due()
    # the scheduler must still close every other due auction, once
    assert ex.view(first.id, None).auction.status is Status.CANCELLED
    assert ex.view(second.id, None).auction.status is Status.CLOSED
    assert second.id in [a.id for a in closed]


def test_null_means_absent_for_every_optional_auction_field():
    draft = parse_auction_request(
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
        }
    )
    assert (draft.quantity, draft.soft_close_s, draft.terms.max_members) == (1, 0, 1)
    assert draft.reputation_weight == 0 and draft.reserve is None


def test_a_big_closed_auction_shows_its_best_bids_and_the_viewers_own(ex, who, clock):
    auction = ex.create_auction(who.seller, req(quantity=2))
    bidders = [ex.create_account(f"Bidder {i}", ["recipient"]).id for i in range(250)]
    for i, bidder in enumerate(bidders):
        ex.place_bid(auction.id, bidder, f"{10 + i}.00")
    clock.set(datetime(2026, 3, 1, 13, 0, 1, tzinfo=UTC))
    ex.close(auction.id, who.seller)
    shown = ex.view(auction.id, bidders[0]).to_dict()["bids"]
    amounts = [b["amount"] for b in shown]
    assert len(shown) == 201  # the 200 best, and the viewer's own (the lowest) as well
    assert amounts[:3] == ["259.00", "258.00", "257.00"]
    assert "10.00" in amounts
    assert [b["rank"] for b in shown[:2]] == [1, 2]


def test_a_contract_starts_when_its_window_opens_and_the_provider_is_told(clock, reps):
    """start_due activates the contract at its window and publishes ContractStarted."""
    heard: list[object] = []
    ex = Exchange(
        MemoryUnitOfWorkFactory(),
        clock,
        SequentialIds(),
        reps,
        SimpleNamespace(publish=heard.extend),
    )
    seller = ex.create_account("Seller", ["provider"]).id
    buyer = ex.create_account("Buyer", ["recipient"]).id
    window = {"window_start": (T0 + timedelta(hours=3)).isoformat()}
    window["window_end"] = (T0 + timedelta(hours=5)).isoformat()
    auction = ex.create_auction(
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
    ex.place_bid(auction.id, buyer, "5.00")
    clock.advance(2 * 3600)
    ex.close_due()
    (contract,) = ex.contracts_of(buyer)
    assert contract.status is ContractStatus.AWARDED
    assert ex.start_due() == []  # the window has not opened yet
    clock.advance(3600)
    (started,) = ex.start_due()
    assert (started.id, started.status, started.started_at) == (
        contract.id,
        ContractStatus.ACTIVE,
        T0 + timedelta(hours=3),
    )
    told = [e for e in heard if isinstance(e, ContractStarted)]
    assert told == [ContractStarted(contract.id, seller, buyer, T0 + timedelta(hours=3))]
