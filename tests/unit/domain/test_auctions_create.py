"""A1/A2 and the creation rules: who opens what, quantities, reserve, increments, eligibility."""

from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.accounts import Role
from commex.domain.auctions import Status
from commex.domain.errors import Forbidden, InvalidInput
from commex.domain.opening import open_auction


def opened(kit, direction="forward", fmt="first-price", owner=None, **kw):
    if owner is None:
        role = Role.PROVIDER if direction == "forward" else Role.RECIPIENT
        owner = kit.account("owner", role)
    return open_auction(kit.draft(direction, fmt, **kw), "auc_1", owner, kit.t0)


def refused(kit, *args, **kw):
    with pytest.raises(InvalidInput) as err:
        opened(kit, *args, **kw)
    return err.value


def test_a_provider_opens_a_forward_auction(kit):
    a = opened(kit, "forward", "second-price", quantity=3, reserve="5.00")
    assert a.status is Status.OPEN
    assert a.owner_id == "owner"
    assert a.quantity == 3
    assert a.bidder_role is Role.RECIPIENT
    assert a.owner_role is Role.PROVIDER
    assert a.bid_count == 0


def test_a_recipient_opens_a_reverse_auction(kit):
    a = opened(kit, "reverse", "first-price", reserve="80.00")
    assert a.bidder_role is Role.PROVIDER
    assert a.owner_role is Role.RECIPIENT


@pytest.mark.parametrize(
    ("direction", "roles"),
    [
        ("forward", (Role.RECIPIENT,)),
        ("forward", (Role.OPERATOR,)),
        ("reverse", (Role.PROVIDER,)),
        ("reverse", (Role.OPERATOR,)),
    ],
)
def test_the_wrong_role_may_not_open(kit, direction, roles):
    with pytest.raises(Forbidden):
        opened(kit, direction, owner=kit.account("someone", *roles))


def test_an_account_with_both_roles_opens_either_direction(kit):
    both = kit.account("both", Role.PROVIDER, Role.RECIPIENT)
    assert opened(kit, "forward", owner=both).owner_id == "both"
    assert opened(kit, "reverse", owner=both).owner_id == "both"


@pytest.mark.parametrize("fmt", ["first-price", "second-price", "english"])
def test_reverse_auctions_buy_exactly_one_service(kit, fmt):
    assert refused(kit, "reverse", fmt, quantity=2).field == "quantity"


def test_english_sells_one_block(kit):
    assert refused(kit, "forward", "english", quantity=2).field == "quantity"


@pytest.mark.parametrize("fmt", ["first-price", "second-price"])
def test_sealed_forward_sells_several_blocks(kit, fmt):
    assert opened(kit, "forward", fmt, quantity=1000).quantity == 1000


@pytest.mark.parametrize("quantity", [0, -1, 1001, True, "2"])
def test_quantity_bounds_and_type(kit, quantity):
    assert refused(kit, "forward", "first-price", quantity=quantity).field == "quantity"


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, "bad\ntitle"])
def test_title_is_checked(kit, title):
    assert refused(kit, title=title).field == "title"


def test_close_time_must_be_in_the_future_and_within_a_year(kit):
    assert refused(kit, closes_at=kit.t0).field == "closes_at"
    assert refused(kit, closes_at=kit.t0 - timedelta(seconds=1)).field == "closes_at"
    assert refused(kit, closes_at=kit.t0 + timedelta(days=367)).field == "closes_at"
    assert opened(kit, closes_at=kit.t0 + timedelta(seconds=1)).closes_at > kit.t0


def test_the_usage_window_must_end_after_the_close(kit):
    terms = kit.terms(
        window_start=kit.t0 - timedelta(days=1), window_end=kit.t0 + timedelta(minutes=30)
    )
    assert refused(kit, terms=terms).field == "terms.window_end"


@pytest.mark.parametrize("name", ["reserve", "min_increment"])
@pytest.mark.parametrize("value", ["0.00", "-1.00"])
def test_reserve_and_increment_must_be_positive(kit, name, value):
    assert refused(kit, **{name: value}).field == name


def test_reserve_must_be_in_the_auction_currency(kit):
    assert refused(kit, reserve=kit.money("5.00", "USD")).field == "reserve"


def test_default_increment_is_one_minor_unit(kit):
    assert str(opened(kit, "forward", "english").min_increment) == "0.01"
    assert str(opened(kit, "forward", "english", currency="JPY").min_increment) == "1"


def test_soft_close_is_for_english_only_and_bounded(kit):
    assert opened(kit, "forward", "english", soft_close_s=120).soft_close_s == 120
    assert refused(kit, "forward", "first-price", soft_close_s=60).field == "soft_close_s"
    assert refused(kit, "forward", "english", soft_close_s=3601).field == "soft_close_s"
    assert refused(kit, "forward", "english", soft_close_s=-1).field == "soft_close_s"


def test_reputation_weight_is_for_sealed_reverse_auctions(kit):
    assert opened(kit, "reverse", "second-price", reputation_weight="0.5").reputation_weight == (
        Decimal("0.5")
    )
    for direction, fmt in (("forward", "first-price"), ("reverse", "english")):
        err = refused(kit, direction, fmt, reputation_weight="0.5")
        assert err.field == "reputation_weight"
    assert refused(kit, "reverse", reputation_weight="1.5").field == "reputation_weight"
    assert refused(kit, "reverse", reputation_weight="-0.1").field == "reputation_weight"


def test_eligibility_that_does_not_fit_the_direction_is_refused(kit):
    assert refused(kit, "forward", eligibility={"min_provider_score": 0.5}).field == "eligibility"
    assert refused(kit, "forward", eligibility={"approved_providers": ["p1"]}).field == (
        "eligibility"
    )
    err = refused(kit, "reverse", eligibility={"min_recipient_score": 0.5})
    assert err.field == "eligibility.min_recipient_score"


def test_eligibility_scores_are_between_zero_and_one(kit):
    err = refused(kit, "reverse", eligibility={"min_provider_score": 1.5})
    assert err.field == "eligibility.min_provider_score"
    err = refused(kit, "forward", eligibility={"min_recipient_score": -0.1})
    assert err.field == "eligibility.min_recipient_score"
