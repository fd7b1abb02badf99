"""The group's auction through the bus over the in-memory store: it opens with its link to the
group in one transaction, its ceiling is the pledges, and a pledge changed while it opens waits
for the group's lock and is then refused, the auction being under way."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from commex.adapters.clock import ManualClock
from commex.bootstrap import in_memory_services
from commex.domain.errors import Conflict
from commex.services import groups as group_module
from commex.services.commands import (
    AnswerGroup,
    CreateGroup,
    InviteToGroup,
    OpenGroupAuction,
    Terms,
)
from commex.services.queries import ShowAuction, ShowGroup
from support.engine import register

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def opening(group_id: str, caller_id: str) -> OpenGroupAuction:
    return OpenGroupAuction(
        group_id, caller_id, "first-price", "Voice", Terms("voice", 60), T0 + timedelta(hours=1)
    )


@pytest.fixture
def world():
    clock = ManualClock(T0)
    s = in_memory_services(clock=clock)
    ann = register(s.bus, "Ann", ["recipient"])
    bob = register(s.bus, "Bob", ["recipient"])
    group = s.bus.handle(CreateGroup(ann.id, "Flats", "EUR", None, "60.00")).group
    s.bus.handle(InviteToGroup(group.id, ann.id, bob.id))
    s.bus.handle(AnswerGroup(group.id, bob.id, "payer", "40.00"))
    return s, ann, bob, group


def test_the_auction_and_its_link_to_the_group_are_one(world):
    s, ann, _, group = world
    shown = s.bus.handle(opening(group.id, ann.id))
    auction = shown.auction
    assert auction.reserve is not None and str(auction.reserve) == "100.00"
    assert shown.group is not None and shown.group.id == group.id
    assert s.bus.handle(ShowAuction(auction.id, ann.id)).group.id == group.id
    assert s.bus.handle(ShowGroup(group.id, ann.id)).under_way == auction.id


def test_a_pledge_lowered_while_the_auction_opens_waits_and_is_then_refused(world, monkeypatch):
    s, ann, bob, group = world
    real = group_module.open_in
    asked = threading.Event()
    answers: list[object] = []

    def lower_pledge() -> None:
        asked.set()
        try:
            answers.append(s.bus.handle(AnswerGroup(group.id, bob.id, "payer", "10.00")))
        except Conflict as exc:
            answers.append(exc)

    def meanwhile(uow, deps, cmd, *rest):  # the auction is opening, under the group's lock
        other = threading.Thread(target=lower_pledge)
        other.start()
        assert asked.wait(5)  # the other request is on its way, and must wait for this one
        meanwhile.other = other  # type: ignore[attr-defined]
        return real(uow, deps, cmd, *rest)

    monkeypatch.setattr(group_module, "open_in", meanwhile)
    opened = s.bus.handle(opening(group.id, ann.id)).auction
    meanwhile.other.join(5)  # type: ignore[attr-defined]
    assert str(opened.reserve) == "100.00"  # the pledges as they stood when it opened
    (refusal,) = answers
    assert isinstance(refusal, Conflict)
    assert f"the group's auction {opened.id} is under way" in refusal.message
    view = s.bus.handle(ShowGroup(group.id, ann.id))
    assert str(view.ceiling) == "100.00"
    assert [a.auction.id for a in view.auctions] == [opened.id]
