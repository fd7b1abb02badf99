"""A contract's lifecycle through the HTTP API, on every storage: the operator cancels a
contract with a reason (and may give its block to the next qualifying bid); everyone else is
refused and nothing changes; the contract's status and dates (awarded, started, completed or
cancelled and why) and the auction's outcome say what happened; a contract whose window ends
completes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.services.commands import CompleteDue
from commex.settings import Settings

Actor = Any
World = Any


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, api_world: World, api_clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    if request.param == "memory":
        services: Services = in_memory_services(clock=api_clock, hasher=hasher)
    else:
        url = request.getfixturevalue("migrated_store")(request.param)
        services = build_services(Settings(tmp_path, url), clock=api_clock, hasher=hasher)
    live = type(api_world)(services, api_clock)
    try:
        with live.client:
            yield live
    finally:
        services.shutdown()


def _sale(w: World, **terms: Any) -> tuple[Actor, Actor, Actor, dict[str, Any]]:
    """A second-price sale won by Harbour (40.00) over Bayview (35.00); the closed auction."""
    seller = w.account("Northwind", "provider")
    harbour, bayview = w.account("Harbour", "recipient"), w.account("Bayview", "recipient")
    body_terms = {"service": "voice", "duration_s": 3600} | terms
    auction = w.create_auction(seller, format="second-price", terms=body_terms)
    assert w.bid(harbour, auction["id"], "40.00").status_code == 201
    assert w.bid(bayview, auction["id"], "35.00").status_code == 201
    w.clock.advance(2 * 3600)
    closed = w.post(f"/v1/auctions/{auction['id']}/close", seller)
    assert closed.status_code == 200, closed.text
    return seller, harbour, bayview, closed.json()


def test_the_operator_cancels_a_contract_and_gives_the_block_to_the_next_bid(
    world: World,
) -> None:
    w = world
    _, harbour, bayview, auction = _sale(w)
    cid = auction["outcome"]["winners"][0]["contract_id"]
    before = w.get(f"/v1/contracts/{cid}", harbour).json()
    assert before["status"] == "active"
    assert before["awarded_at"] == before["started_at"] == w.clock.now().isoformat()
    assert before["completed_at"] is None and before["cancelled_at"] is None

    w.clock.advance(600)
    body = {"reason": "the buyer reported the card stolen", "reaward": True}
    r = w.post(f"/v1/contracts/{cid}/cancel", w.operator, json=body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["contract"]["status"] == "cancelled"
    assert done["contract"]["cancelled_at"] == w.clock.now().isoformat()
    assert done["contract"]["end_reason"] == "operator"
    assert done["contract"]["end_note"] == "the buyer reported the card stolen"
    assert done["contract"]["cancelled_by"] == w.operator.id
    nxt = done["reawarded"]
    assert (nxt["recipient_id"], nxt["price"], nxt["status"]) == (bayview.id, "35.00", "active")

    # Both parties see it on the contract, and everyone on the auction's outcome.
    seen = w.get(f"/v1/contracts/{cid}", harbour).json()
    assert (seen["status"], seen["end_reason"]) == ("cancelled", "operator")
    outcome = w.auction(bayview, auction["id"])["outcome"]
    assert [x["bidder_id"] for x in outcome["winners"]] == [bayview.id]
    assert outcome["defaulted"] == [
        {"bid_id": auction["outcome"]["winners"][0]["bid_id"], "bidder_id": harbour.id,
         "contract_id": cid, "reason": "operator"}
    ]  # fmt: skip
    assert outcome["unsold"] == 0
    again = w.post(f"/v1/contracts/{cid}/cancel", w.operator, json={"reason": "twice"})
    assert again.status_code == 409
    assert "was cancelled on" in again.json()["error"]["message"]


def test_only_the_operator_cancels_a_contract_and_a_reason_is_required(world: World) -> None:
    w = world
    seller, harbour, bayview, auction = _sale(w)
    cid = auction["outcome"]["winners"][0]["contract_id"]
    for who, status in ((seller, 403), (harbour, 403), (bayview, 403)):
        r = w.post(f"/v1/contracts/{cid}/cancel", who, json={"reason": "mine"})
        assert r.status_code == status, r.text
        assert r.json()["error"]["message"] == "only the operator may cancel a contract"
    assert w.post(f"/v1/contracts/{cid}/cancel", None, json={"reason": "x"}).status_code == 401
    r = w.post(f"/v1/contracts/{cid}/cancel", w.operator, json={"reason": "   "})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = w.post("/v1/contracts/con_nope/cancel", w.operator, json={"reason": "x"})
    assert r.status_code == 404
    assert w.get(f"/v1/contracts/{cid}", harbour).json()["status"] == "active"
    assert w.auction(seller, auction["id"])["outcome"]["defaulted"] == []


def test_without_reaward_the_block_is_reported_unsold(world: World) -> None:
    w = world
    seller, _, _, auction = _sale(w)
    cid = auction["outcome"]["winners"][0]["contract_id"]
    r = w.post(f"/v1/contracts/{cid}/cancel", w.operator, json={"reason": "duplicate sale"})
    assert r.status_code == 200, r.text
    assert r.json()["reawarded"] is None
    outcome = w.auction(seller, auction["id"])["outcome"]
    assert (outcome["winners"], outcome["unsold"]) == ([], 1)


def test_a_contract_completes_when_its_window_ends(world: World) -> None:
    w = world
    start = w.clock.now() + timedelta(hours=2, minutes=30)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
    }
    _, harbour, _, auction = _sale(w, **window)
    cid = auction["outcome"]["winners"][0]["contract_id"]
    assert w.get(f"/v1/contracts/{cid}", harbour).json()["status"] == "awarded"
    w.clock.set(start + timedelta(hours=1))
    (done,) = w.services.bus.handle(CompleteDue())
    assert done.id == cid
    seen = w.get(f"/v1/contracts/{cid}", harbour).json()
    assert (seen["status"], seen["end_reason"]) == ("completed", "window_ended")
    assert seen["completed_at"] == (start + timedelta(hours=1)).isoformat()
    assert seen["started_at"] is None  # it never started: nobody ran the scheduler in time
