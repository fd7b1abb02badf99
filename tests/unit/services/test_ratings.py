"""Ratings through the bus over the in-memory store: each side rates the other once, the rated
reputation moves in the rating's own transaction, and a member account is told to leave the
rating to the recipient."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from commex.adapters.clock import SequentialIds
from commex.bootstrap import in_memory_exchange
from commex.domain.accounts import Role
from commex.domain.errors import Conflict, Forbidden
from commex.domain.reputation import rating_weight
from commex.services.commands import AddCard, AddMember, ChargeDue, Rate
from commex.services.queries import ShowParty
from support.engine import register
from support.worlds import award


@pytest.fixture
def ex(clock):  # type: ignore[no-untyped-def]
    """Reputations from the tallies ratings move (not set by hand)."""
    return in_memory_exchange(clock=clock, ids=SequentialIds())


@pytest.fixture
def who(ex):  # type: ignore[no-untyped-def]
    return SimpleNamespace(alice=register(ex, "Alice", ["recipient"]).id)


@pytest.fixture
def won(ex, clock):  # type: ignore[no-untyped-def]
    return award(ex, clock, direction="forward", terms={"service": "voice", "duration_s": 600,
                                                        "max_members": 2})  # fmt: skip


def test_each_side_rates_the_other_once(ex, won, clock) -> None:  # type: ignore[no-untyped-def]
    cid = won.contract_id
    ex.handle(AddCard(won.buyer.id, "4242424242424242", 12, clock.now().year + 2, "123"))
    ex.handle(ChargeDue())  # the contract is paid: its ratings carry weight
    rated = ex.handle(Rate(cid, False, 2, "Dropped twice", account_id=won.buyer.id))
    assert (rated.rated_id, rated.rated_role) == (won.seller.id, Role.PROVIDER)
    ex.handle(Rate(cid, True, account_id=won.seller.id))
    with pytest.raises(Conflict, match="you have already rated this contract"):
        ex.handle(Rate(cid, True, account_id=won.buyer.id))
    provider = ex.handle(ShowParty(won.seller.id, Role.PROVIDER)).reputation
    payer = ex.handle(ShowParty(won.buyer.id, Role.RECIPIENT)).reputation
    # 40.00 paid, raters an hour old with one payment each: the weight the rule gives them
    weight = rating_weight(Decimal("40.00"), 1 / 24, 1)
    assert (provider.negative, provider.count) == (pytest.approx(weight), 1)
    # the payer's reputation: the charge's own payment rating (1.0) and the seller's rating
    assert (payer.positive, payer.count) == (pytest.approx(1.0 + weight), 2)


def test_a_member_account_leaves_rating_to_the_recipient(ex, who, won) -> None:  # type: ignore[no-untyped-def]
    ex.handle(AddMember(won.contract_id, won.buyer.id, account_id=who.alice))
    with pytest.raises(Forbidden, match="its recipient rates the provider for every member"):
        ex.handle(Rate(won.contract_id, True, account_id=who.alice))
