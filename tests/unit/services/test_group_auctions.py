"""The group's auction over the in-memory services: its link is written with the auction, and a
pledge lowered while it opens refuses the auction whole (nothing half-opened is left)."""

from datetime import UTC, datetime, timedelta

import pytest

from commex.adapters.clock import ManualClock
from commex.bootstrap import in_memory_services
from commex.domain.auctions import Status
from commex.domain.errors import Conflict

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BODY = {
    "format": "first-price",
    "title": "Voice",
    "terms": {"service": "voice", "duration_s": 60},
    "closes_at": (T0 + timedelta(hours=1)).isoformat(),
}


@pytest.fixture
def world():
    clock = ManualClock(T0)
    s = in_memory_services(clock=clock)
    ann = s.exchange.create_account("Ann", ["recipient"])
    bob = s.exchange.create_account("Bob", ["recipient"])
    group = s.groups.create(ann.id, "Flats", "EUR", None, "60.00").group
    s.groups.invite(group.id, ann.id, bob.id)
    s.groups.answer(group.id, bob.id, "payer", "40.00")
    return s, ann, bob, group


def test_the_auction_and_its_link_to_the_group_are_one(world):
    s, ann, _, group = world
    auction = s.groups.open_auction(group.id, ann.id, BODY)
    assert auction.reserve is not None and str(auction.reserve) == "100.00"
    assert s.groups.badge(auction.id).id == group.id
    assert s.groups.view(group.id, ann.id).under_way == auction.id


def test_a_pledge_lowered_while_the_auction_opens_refuses_it_whole(world, monkeypatch):
    s, ann, bob, group = world
    real = s.exchange.create_auction

    def meanwhile(owner_id, request, *, on_open=None):
        s.groups.answer(group.id, bob.id, "payer", "10.00")  # lands between check and open
        return real(owner_id, request, on_open=on_open)

    monkeypatch.setattr(s.exchange, "create_auction", meanwhile)
    with pytest.raises(Conflict, match=r"the pledges changed .* now add up to 70\.00 EUR"):
        s.groups.open_auction(group.id, ann.id, BODY)
    assert s.exchange.auctions(Status.OPEN) == []
    assert s.groups.view(group.id, ann.id).auctions == ()
