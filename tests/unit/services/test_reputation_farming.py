"""The reputation-farming finding: a provider sold five blocks for 0.01 EUR each to five
throwaway accounts of its own making and had them rate it 5/5, which took its lower bound from
0.0 to 0.57, past an established provider's. A rating now counts by what stands behind it (the
price paid, the rater's standing), so the farm moves nothing, while paying customers still do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.bootstrap import in_memory_exchange
from commex.domain.accounts import Role
from commex.services.bus import MessageBus
from commex.services.commands import AddCard, ChargeDue, Rate
from commex.services.queries import ShowParty
from support.engine import close, contracts_of, open_auction, place_bid, register

VISA = "4242424242424242"


@pytest.fixture
def ex(clock: ManualClock) -> MessageBus:
    return in_memory_exchange(clock=clock, ids=SequentialIds())


def farm(ex: MessageBus, clock: ManualClock, price: str, *, cards: bool) -> str:
    """The probe's scenario: five blocks at ``price`` each, bought and rated 5/5 by five new
    recipient accounts (opened without a token); the farmer's id."""
    farmer = register(ex, "Farmer", ["provider"])
    shills = [register(ex, f"Shill {i}", ["recipient"]) for i in range(5)]
    auction = open_auction(
        ex,
        farmer.id,
        {
            "direction": "forward",
            "format": "first-price",
            "title": "five blocks",
            "terms": {"service": "voice", "duration_s": 60},
            "currency": "EUR",
            "quantity": 5,
            "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    for shill in shills:
        if cards:
            ex.handle(AddCard(shill.id, VISA, 12, clock.now().year + 2, "123"))
        place_bid(ex, auction.id, shill.id, price)
    clock.advance(2 * 3600)
    close(ex, auction.id, farmer.id)
    ex.handle(ChargeDue())
    for shill in shills:
        (contract,) = contracts_of(ex, shill.id)
        ex.handle(Rate(contract.id, True, 5, "great", account_id=shill.id))
    return farmer.id


def test_the_farm_without_cards_leaves_the_reputation_unchanged(
    ex: MessageBus, clock: ManualClock
) -> None:
    farmer = farm(ex, clock, "0.01", cards=False)
    rep = ex.handle(ShowParty(farmer, Role.PROVIDER)).reputation
    assert (rep.positive, rep.negative, rep.count, rep.lower_bound) == (0.0, 0.0, 0, 0.0)
    assert rep.describe() == "no ratings yet"


def test_the_farm_paid_in_cents_moves_the_lower_bound_by_nothing_that_matters(
    ex: MessageBus, clock: ManualClock
) -> None:
    farmer = farm(ex, clock, "0.01", cards=True)
    rep = ex.handle(ShowParty(farmer, Role.PROVIDER)).reputation
    assert rep.lower_bound < 0.01  # it was 0.57 before, above an established 0.34
    assert rep.positive < 0.01


def test_paying_customers_still_move_a_reputation(ex: MessageBus, clock: ManualClock) -> None:
    farmer = farm(ex, clock, "40.00", cards=True)
    rep = ex.handle(ShowParty(farmer, Role.PROVIDER)).reputation
    # five new customers who each paid 40.00: half a rating's weight or more each
    assert rep.positive == pytest.approx(5 * (0.5 + 0.25 * 0 + 0.25 * 1 / 5), rel=0.01)
    assert rep.count == 5
