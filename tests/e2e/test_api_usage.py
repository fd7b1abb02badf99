"""Blocks of time in use through the HTTP API (SPEC T2-T5, S7), on every storage.

The issue's story first: one block shared by three telephone numbers and two users' devices,
used by all of them at once until it is gone, adding up to exactly the block. Then sharing,
who sees and reports what, sessions and the window, the packet plane's deliveries and breaches,
and providers' capacity, each with the status, message and figures a user sees.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from api_support import ApiActor as Actor
from api_support import ApiWorld as World
from test_api_ratings import (  # the same world over memory, SQLite and PostgreSQL
    bearer,
    error,
    reputation,
    won_contracts,
    world,  # noqa: F401
)

from support.engine import start_due

ALICE_NUMBER = "+1 415 555 0123"
NUMBERS = [ALICE_NUMBER, "+44 20 7946 0958", "+33 1 42 68 53 00"]
E164 = ["+14155550123", "+442079460958", "+33142685300"]


# -- acting through HTTP -----------------------------------------------------------------------


def register_device(
    w: World, owner: Actor, name: str, user: str, numbers: list[str] | None = None
) -> dict[str, Any]:
    body = {"name": name, "user": user, "phone_numbers": numbers or []}
    r = w.post("/v1/devices", owner, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def add_member(w: World, recipient: Actor, contract_id: str, **body: str) -> dict[str, Any]:
    r = w.post(f"/v1/contracts/{contract_id}/members", recipient, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def report(w: World, contract_id: str, headers: dict[str, str], member_id: str, seconds: Any,
           **more: Any) -> Any:  # fmt: skip
    body = {"member_id": member_id, "seconds": seconds} | more
    return w.client.post(f"/v1/contracts/{contract_id}/usage", json=body, headers=headers)


def usage(w: World, contract_id: str, headers: dict[str, str]) -> dict[str, Any]:
    r = w.client.get(f"/v1/contracts/{contract_id}/usage", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def shares(u: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["member_id"]: m for m in u["members"]}


def exact(value: float | int) -> Decimal:
    """Seconds from the wire as exact decimals (JSON carries 4.915 as a float)."""
    return Decimal(str(value))


def delete_member(w: World, who: Actor, contract_id: str, member_id: str) -> Any:
    return w.client.delete(f"/v1/contracts/{contract_id}/members/{member_id}", headers=who.headers)


@pytest.fixture
def parties(world: World) -> tuple[Actor, Actor]:  # noqa: F811
    return world.account("Carrier", "provider"), world.account("Clinic", "recipient")


# -- the story -------------------------------------------------------------------------

UNIT = Decimal("7.001")  # 600 s is no whole number of these: the block always ends mid-report
CUT = re.compile(r"the block of 600 s had (\S+) s left; the rest is cut")


def test_five_members_use_one_block_at_once_and_it_adds_up_exactly(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, duration_s=600, max_members=5)
    cid = contract["id"]
    assert contract["status"] == "active"
    assert contract["usage"] == {
        "block_seconds": 600, "used_seconds": 0, "remaining_seconds": 600,
    }  # fmt: skip

    phones = [add_member(w, recipient, cid, phone_number=n) for n in NUMBERS]
    assert [p["phone"] for p in phones] == E164
    # Alice's phone carries her number, so it acts for that member as well as for itself.
    alice = register_device(w, recipient, "Alice's phone", "Alice", [ALICE_NUMBER])
    bob = register_device(w, recipient, "Bob's tablet", "Bob")
    devices = [add_member(w, recipient, cid, device_id=d["id"]) for d in (alice, bob)]
    got = w.get(f"/v1/contracts/{cid}", recipient).json()
    assert len(got["members"]) == 5

    # Who reports for whom, and how much each report asks for.
    reporters = [
        (phones[0]["id"], bearer(alice["token"]), UNIT),
        (phones[1]["id"], recipient.headers, 2 * UNIT),
        (phones[2]["id"], recipient.headers, 3 * UNIT),
        (devices[0]["id"], bearer(alice["token"]), UNIT),
        (devices[1]["id"], bearer(bob["token"]), 2 * UNIT),
    ]
    answers: dict[str, list[Any]] = {m: [] for m, _, _ in reporters}
    start = threading.Barrier(len(reporters))

    def use(member_id: str, headers: dict[str, str], each: Decimal) -> None:
        start.wait(timeout=30)
        for _ in range(40):  # 40 reports each: far more than the block
            r = report(w, cid, headers, member_id, str(each), bytes=1000)
            answers[member_id].append((each, r))
            if r.status_code != 201:
                return

    threads = [threading.Thread(target=use, args=args) for args in reporters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    accepted = {m: Decimal(0) for m in answers}
    cuts = []
    for member_id, replies in answers.items():
        *taken, last = replies
        # Every member was stopped by the block being used up.
        e = error(last[1], 409)
        assert e["message"] == f"contract {cid}: the block of 600 s is used up"
        for each, r in taken:
            assert r.status_code == 201, r.text
            body = r.json()
            got_s = exact(body["accepted_seconds"])
            accepted[member_id] += got_s
            assert body["session"]["member_id"] == member_id
            assert body["session"]["ended_at"] is not None  # a report on its own is a session
            if body["cut"] is None:
                assert got_s == each
            else:
                cuts.append((got_s, each, body))
    assert sum(accepted.values()) == 600
    # Exactly one report crossed the end of the block: cut, with what was left, and the message.
    ((got_s, each, body),) = cuts
    assert 0 < got_s < each
    left = CUT.fullmatch(body["cut"])
    assert left is not None, body["cut"]
    assert exact(left.group(1)) == got_s
    assert body["remaining_seconds"] == 0

    # Each member's share is visible, and the shares add up to the block.
    u = usage(w, cid, recipient.headers)
    assert (u["block_seconds"], u["used_seconds"], u["remaining_seconds"]) == (600, 600, 0)
    assert u["delivered_seconds"] == 0
    mine = shares(u)
    assert set(mine) == set(accepted)
    for member_id, total in accepted.items():
        assert exact(mine[member_id]["used_seconds"]) == total
        assert mine[member_id]["bytes"] == 1000 * (len(answers[member_id]) - 1)
        assert mine[member_id]["removed"] is False
    assert sum(exact(m["used_seconds"]) for m in u["members"]) == 600
    assert mine[phones[0]["id"]]["phone"] == E164[0]
    assert mine[devices[1]["id"]]["device"] == bob["id"]
    # The contract shows the same figures to every member.
    seen = w.client.get(f"/v1/contracts/{cid}", headers=bearer(bob["token"]))
    assert seen.status_code == 200, seen.text
    assert seen.json()["usage"]["used_seconds"] == 600

    # Nothing remains: no more usage, no new session.
    e = error(report(w, cid, recipient.headers, phones[1]["id"], 1), 409)
    assert "used up" in e["message"]
    r = w.post(f"/v1/contracts/{cid}/sessions", recipient, json={"member_id": phones[1]["id"]})
    assert "used up" in error(r, 409)["message"]


# -- sharing -----------------------------------------------------------------------------------


def test_members_at_the_limit_removed_and_restored(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, duration_s=600, max_members=2)
    cid = contract["id"]
    first = add_member(w, recipient, cid, phone_number=NUMBERS[0])
    e = error(w.post(f"/v1/contracts/{cid}/members", recipient, json={"phone_number": "12"}), 422)
    assert e["field"] == "phone_number"
    assert "'12'" in e["message"]
    tablet = register_device(w, recipient, "Tablet", "Bob")
    add_member(w, recipient, cid, device_id=tablet["id"])
    r = w.post(f"/v1/contracts/{cid}/members", recipient, json={"phone_number": NUMBERS[1]})
    assert error(r, 409)["message"] == "this contract is shared by at most 2 member(s); it has 2"

    assert report(w, cid, recipient.headers, first["id"], 30, bytes=4096).status_code == 201

    # Only the recipient removes members.
    e = error(delete_member(w, provider, cid, first["id"]), 403)
    assert e["message"] == "only the contract's recipient removes members"
    r = delete_member(w, recipient, cid, first["id"])
    assert r.status_code == 200, r.text
    assert r.json()["removed_at"] is not None
    # Its usage stays on record, marked removed; it is no longer a member and cannot report.
    listed = w.get(f"/v1/contracts/{cid}/members", recipient).json()["items"]
    assert [m["device"] for m in listed] == [tablet["id"]]
    gone = shares(usage(w, cid, recipient.headers))[first["id"]]
    assert (gone["removed"], gone["used_seconds"], gone["bytes"]) == (True, 30, 4096)
    e = error(report(w, cid, recipient.headers, first["id"], 5), 404)
    assert e["message"] == f"member {first['id']} of contract {cid} not found"
    assert error(delete_member(w, recipient, cid, first["id"]), 404)

    # Its place is free: adding it again brings back the same membership and its usage.
    again = add_member(w, recipient, cid, phone_number=NUMBERS[0])
    assert again["id"] == first["id"]
    assert "removed_at" not in again
    assert report(w, cid, recipient.headers, first["id"], 12.5).status_code == 201
    back = shares(usage(w, cid, recipient.headers))[first["id"]]
    assert (back["removed"], back["used_seconds"], back["sessions"]) == (False, 42.5, 2)
    assert usage(w, cid, recipient.headers)["used_seconds"] == 42.5


def test_who_sees_a_contract_and_for_whom_they_report(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract, other) = won_contracts(w, provider, recipient, n=2, max_members=5)
    cid = contract["id"]
    partner = w.account("Partner clinic", "recipient")
    stranger = w.account("Stranger", "recipient", "provider")
    as_partner = add_member(w, recipient, cid, account_id=partner.id)
    phone = add_member(w, recipient, cid, phone_number=NUMBERS[1])
    desk = register_device(w, recipient, "Desk phone", "Alice", [NUMBERS[1]])  # on the number
    laptop = register_device(w, recipient, "Laptop", "Bob")
    as_laptop = add_member(w, recipient, cid, device_id=laptop["id"])
    spare = register_device(w, recipient, "Spare", "Carol")  # not a member of anything

    # A stranger learns nothing, not even that the contract exists.
    not_found = f"contract {cid} not found"
    for path in (f"/v1/contracts/{cid}", f"/v1/contracts/{cid}/usage"):
        assert error(w.get(path, stranger), 404)["message"] == not_found
        assert error(w.client.get(path, headers=bearer(spare["token"])), 404)
    assert error(report(w, cid, stranger.headers, phone["id"], 1), 404)["message"] == not_found

    # Parties, the operator and members see it.
    for who in (provider, recipient, w.operator, partner):
        r = w.get(f"/v1/contracts/{cid}", who)
        assert r.status_code == 200, r.text
        assert len(r.json()["members"]) == 3
    for token in (laptop["token"], desk["token"]):
        r = w.client.get(f"/v1/contracts/{cid}", headers=bearer(token))
        assert r.status_code == 200, r.text
    # A device sees only the contracts it is a member of.
    r = w.client.get(f"/v1/contracts/{other['id']}", headers=bearer(laptop["token"]))
    assert error(r, 404)["message"] == f"contract {other['id']} not found"
    assert error(w.get(f"/v1/contracts/{other['id']}", partner), 404)

    # A member account or device reports for its own membership only...
    forbidden = "you may report usage only for your own membership, not "
    e = error(report(w, cid, partner.headers, phone["id"], 1), 403)
    assert e["message"] == forbidden + phone["id"]
    e = error(report(w, cid, bearer(laptop["token"]), as_partner["id"], 1), 403)
    assert e["message"] == forbidden + as_partner["id"]
    assert report(w, cid, partner.headers, as_partner["id"], 10).status_code == 201
    assert report(w, cid, bearer(laptop["token"]), as_laptop["id"], 20).status_code == 201
    # ...and a device for a telephone member whose number is on it.
    assert report(w, cid, bearer(desk["token"]), phone["id"], 30).status_code == 201
    e = error(report(w, cid, bearer(desk["token"]), as_laptop["id"], 1), 403)
    assert e["message"] == forbidden + as_laptop["id"]
    # The provider sees usage but does not report for members; the recipient reports for any.
    e = error(report(w, cid, provider.headers, phone["id"], 1), 403)
    assert report(w, cid, recipient.headers, as_laptop["id"], 0.5).status_code == 201

    u = usage(w, cid, provider.headers)
    assert u["used_seconds"] == 60.5
    used = {m["member_id"]: m["used_seconds"] for m in u["members"]}
    assert used == {as_partner["id"]: 10, phone["id"]: 30, as_laptop["id"]: 20.5}


def test_a_device_of_another_recipient_with_a_members_number_sees_nothing(
    api_world: World,
) -> None:
    """A telephone member is the recipient's number: a device another recipient registered
    with the same number is not the recipient's, and must not read or use the contract. (The
    rule is the services', the same on every storage.)"""
    w = api_world
    provider, recipient = w.account("Carrier", "provider"), w.account("Clinic", "recipient")
    (contract,) = won_contracts(w, provider, recipient, max_members=2)
    cid = contract["id"]
    phone = add_member(w, recipient, cid, phone_number=NUMBERS[0])
    mallory = w.account("Mallory", "recipient")
    theirs = register_device(w, mallory, "Burner", "Mallory", [NUMBERS[0]])
    r = w.client.get(f"/v1/contracts/{cid}", headers=bearer(theirs["token"]))
    assert error(r, 404)["message"] == f"contract {cid} not found"
    error(report(w, cid, bearer(theirs["token"]), phone["id"], 60), 404)
    assert usage(w, cid, recipient.headers)["used_seconds"] == 0


# -- sessions and the window -------------------------------------------------------------------


def test_sessions_open_take_reports_and_end(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, duration_s=600, max_members=2)
    cid = contract["id"]
    a = add_member(w, recipient, cid, phone_number=NUMBERS[0])
    b = add_member(w, recipient, cid, phone_number=NUMBERS[1])

    r = w.post(f"/v1/contracts/{cid}/sessions", recipient, json={"member_id": a["id"]})
    assert r.status_code == 201, r.text
    session = r.json()
    assert (session["member_id"], session["ended_at"], session["used_seconds"]) == (
        a["id"], None, 0,
    )  # fmt: skip
    assert session["remaining_seconds"] == 600
    sid = session["id"]

    w.clock.advance(90)
    r = report(w, cid, recipient.headers, a["id"], 90, session_id=sid, bytes=100)
    assert r.status_code == 201, r.text
    assert (r.json()["accepted_seconds"], r.json()["remaining_seconds"]) == (90, 510)
    assert r.json()["session"]["id"] == sid
    assert r.json()["session"]["ended_at"] is None
    w.clock.advance(30.25)
    r = report(w, cid, recipient.headers, a["id"], "30.25", session_id=sid, bytes=50)
    assert r.status_code == 201, r.text
    assert (r.json()["session"]["used_seconds"], r.json()["session"]["bytes"]) == (120.25, 150)
    # A session cannot report more use than the time it has been open.
    w.clock.advance(5)
    r = report(w, cid, recipient.headers, a["id"], 60, session_id=sid)
    assert (r.status_code, r.json()["accepted_seconds"]) == (201, 5), r.text
    assert r.json()["cut"].startswith("only 5 s of the 60 s reported fit in the session's time")
    # A session belongs to its member.
    e = error(report(w, cid, recipient.headers, b["id"], 1, session_id=sid), 422)
    assert e["message"] == f"session {sid} belongs to member {a['id']}, not {b['id']}"

    r = w.post(f"/v1/contracts/{cid}/sessions/{sid}/end", recipient)
    assert r.status_code == 200, r.text
    assert r.json()["ended_at"] is not None
    assert r.json()["used_seconds"] == 125.25
    e = error(report(w, cid, recipient.headers, a["id"], 1, session_id=sid), 422)
    assert e["message"] == f"session {sid} has ended"
    assert e["field"] == "session_id"
    e = error(w.post(f"/v1/contracts/{cid}/sessions/{sid}/end", recipient), 422)
    assert e["message"] == f"session {sid} has ended"

    # A report may end its session.
    sid2 = w.post(f"/v1/contracts/{cid}/sessions", recipient, json={"member_id": b["id"]})
    sid2 = sid2.json()["id"]
    w.clock.advance(10)
    r = report(w, cid, recipient.headers, b["id"], 10, session_id=sid2, end=True)
    assert r.json()["session"]["ended_at"] is not None
    assert error(report(w, cid, recipient.headers, b["id"], 1, session_id=sid2), 422)
    e = error(report(w, cid, recipient.headers, b["id"], 1, session_id="ses_nosuch"), 404)
    assert e["message"] == f"session ses_nosuch of contract {cid} not found"

    u = usage(w, cid, recipient.headers)
    assert u["used_seconds"] == 135.25
    assert {m["member_id"]: (m["used_seconds"], m["sessions"]) for m in u["members"]} == {
        a["id"]: (125.25, 1),
        b["id"]: (10, 1),
    }


def test_usage_only_counts_inside_the_window(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    opens = w.clock.now() + timedelta(days=1)
    closes = opens + timedelta(hours=1)
    window = {"window_start": opens.isoformat(), "window_end": closes.isoformat()}
    (contract,) = won_contracts(w, provider, recipient, duration_s=1800, **window)
    cid = contract["id"]
    assert contract["status"] == "awarded"
    member = add_member(w, recipient, cid, phone_number=NUMBERS[0])

    # Before the window opens the contract is awarded, not in service.
    e = error(report(w, cid, recipient.headers, member["id"], 10), 409)
    assert e["message"] == (
        f"contract {cid} is awarded, not in service; its window opens at {opens.isoformat()}"
    )
    r = w.post(f"/v1/contracts/{cid}/sessions", recipient, json={"member_id": member["id"]})
    assert error(r, 409)["message"] == e["message"]
    mine = w.get("/v1/providers/me/contracts?status=active", provider).json()["items"]
    assert cid not in [c["id"] for c in mine]
    awarded = w.get("/v1/providers/me/contracts?status=awarded", provider).json()["items"]
    assert [c["id"] for c in awarded] == [cid]

    w.clock.set(opens + timedelta(minutes=50))
    assert [c.id for c in start_due(w.services.bus)] == [cid]
    mine = w.get("/v1/providers/me/contracts?status=active", provider).json()["items"]
    assert [c["id"] for c in mine] == [cid]
    assert mine[0]["status"] == "active"
    r = w.post(f"/v1/contracts/{cid}/sessions", recipient, json={"member_id": member["id"]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    # The session runs 10 min 30 s past the close: only the 10 minutes inside count.
    w.clock.set(closes + timedelta(seconds=30))
    r = report(w, cid, recipient.headers, member["id"], 630, session_id=sid, end=True)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted_seconds"], body["remaining_seconds"]) == (600, 1200)
    assert body["cut"] == (
        "only 600 s of the 630 s reported fall inside the window "
        f"{opens.isoformat()} to {closes.isoformat()}"
    )
    # After the window nothing more is accepted, though 1200 s of the block remain.
    e = error(report(w, cid, recipient.headers, member["id"], 10), 409)
    assert e["message"] == (
        f"contract {cid}: its window ended at {closes.isoformat()}; usage after it is not accepted"
    )
    assert usage(w, cid, recipient.headers)["used_seconds"] == 600

    e = error(w.get("/v1/providers/me/contracts?status=bogus", provider), 422)
    assert e["field"] == "status"
    assert e["message"] == (
        "status must be one of active, awarded, cancelled, completed, not 'bogus'"
    )


# -- the packet plane's deliveries and breaches ------------------------------------------------


def test_deliveries_meter_the_block_and_breaches_follow_the_provider(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, duration_s=600, min_rate_bps=64_000)
    cid = contract["id"]
    path = f"/v1/contracts/{cid}/deliveries"

    def deliver(who: Actor, run_id: str, seconds: Any, achieved: int) -> Any:
        body = {
            "run_id": run_id, "seconds": seconds, "bytes": 10_000, "packets": 50,
            "achieved_rate_bps": achieved,
        }  # fmt: skip
        return w.post(path, who, json=body)

    e = error(deliver(recipient, "run-1", 120, 80_000), 403)
    assert e["message"] == "only the contract's provider reports deliveries"
    stranger = w.account("Other carrier", "provider")
    assert error(deliver(stranger, "run-1", 120, 80_000), 404)

    r = deliver(provider, "run-1", 120, 80_000)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["accepted_seconds"], first["remaining_seconds"], first["breach"]) == (
        120, 480, False,
    )  # fmt: skip
    # The plane retries the same run: answered the same, counted once.
    r = deliver(provider, "run-1", 120, 80_000)
    assert r.status_code == 201, r.text
    assert (r.json()["id"], r.json()["remaining_seconds"]) == (first["id"], 480)
    r = deliver(provider, "run-2", 60.5, 32_000)
    assert r.status_code == 201, r.text
    assert (r.json()["breach"], r.json()["min_rate_bps"]) == (True, 64_000)

    u = usage(w, cid, recipient.headers)
    assert (u["used_seconds"], u["delivered_seconds"], u["remaining_seconds"]) == (
        180.5, 180.5, 419.5,
    )  # fmt: skip
    assert sorted(d["run_id"] for d in u["deliveries"]) == ["run-1", "run-2"]
    got = w.get(f"/v1/contracts/{cid}", recipient).json()
    assert [(b["run_id"], b["achieved_rate_bps"]) for b in got["breaches"]] == [("run-2", 32_000)]

    # The breach stands beside the provider's reputation wherever it is shown.
    sla = {"measured": 2, "breaches": 1, "measured_seconds": 180.5, "breached_seconds": 60.5}
    rep = reputation(w, recipient, provider.id, "provider")
    assert rep["sla"] == sla
    later = w.create_auction(provider)
    owner = w.auction(recipient, later["id"])["owner"]["reputation"]
    assert owner["sla"] == sla
    assert owner["summary"] == (
        "no ratings yet; 34% of 180.5 measured stream-seconds below the minimum rate "
        "(1 of 2 deliveries)"
    )
    # Many tiny deliveries at the right rate do not dilute the time in breach.
    for i in range(10):
        assert deliver(provider, f"tiny-{i}", 0.001, 80_000).status_code == 201
    diluted = reputation(w, recipient, provider.id, "provider")["sla"]
    assert (diluted["measured"], diluted["breached_seconds"]) == (12, 60.5)
    assert diluted["measured_seconds"] == 180.51
    sla = diluted
    # A contract without a minimum rate is not measured.
    (plain,) = won_contracts(w, provider, recipient)
    r = w.post(
        f"/v1/contracts/{plain['id']}/deliveries", provider,
        json={"run_id": "r", "seconds": 5, "bytes": 1, "packets": 1, "achieved_rate_bps": 1},
    )  # fmt: skip
    assert (r.status_code, r.json()["breach"]) == (201, False)
    assert reputation(w, recipient, provider.id, "provider")["sla"] == sla


def test_a_delivery_carries_the_receivers_figures_and_a_breach_names_its_measure(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, duration_s=600, min_rate_bps=64_000)
    cid = contract["id"]
    path = f"/v1/contracts/{cid}/deliveries"
    heard = {"streams": 1, "fraction_lost": 0.25, "cumulative_lost": 30, "jitter_ms": 4.5,
             "round_trip_ms": 12.25}  # fmt: skip

    def deliver(run_id: str, achieved: int, receiver: Any) -> Any:
        body = {"run_id": run_id, "seconds": 30, "bytes": 10_000, "packets": 1500,
                "achieved_rate_bps": achieved, "receiver": receiver}  # fmt: skip
        return w.post(path, provider, json=body)

    # Sent at 80 kbit/s, the provider's own measure meets 64 kbit/s; the receiver got 60.
    r = deliver("run-rx", 80_000, heard)
    assert r.status_code == 201, r.text
    assert (r.json()["breach"], r.json()["breach_measured_by"]) == (True, "receiver")
    assert r.json()["receiver"] == heard
    r = deliver("run-slow", 32_000, None)  # below by its own measure; no receiver heard
    assert (r.json()["breach_measured_by"], r.json()["receiver"]) == ("sender", None)
    r = deliver("run-met", 90_000, {**heard, "round_trip_ms": None})
    assert (r.json()["breach"], r.json()["breach_measured_by"]) == (False, None)
    got = w.get(f"/v1/contracts/{cid}", recipient).json()
    assert sorted((b["run_id"], b["breach_measured_by"]) for b in got["breaches"]) == [
        ("run-rx", "receiver"), ("run-slow", "sender"),
    ]  # fmt: skip
    shown = {d["run_id"]: d["receiver"] for d in usage(w, cid, recipient.headers)["deliveries"]}
    assert shown["run-rx"] == heard and shown["run-slow"] is None

    for bad, field in [
        ({**heard, "fraction_lost": 2}, "fraction_lost"),
        ({**heard, "jitter_ms": -1}, "jitter_ms"),
        ({**heard, "streams": "one"}, "streams"),
        ({**heard, "extra": 1}, "extra"),
    ]:
        e = error(deliver("run-bad", 80_000, bad), 422)
        assert field in e["message"], e
    assert "run-bad" not in {d["run_id"] for d in usage(w, cid, recipient.headers)["deliveries"]}


# -- capacity ----------------------------------------------------------------------------------


def test_capacity_refuses_blocks_that_would_oversubscribe_it(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    day = w.clock.now() + timedelta(days=1)

    def terms(start_h: int, end_h: int, min_rate: int) -> dict[str, Any]:
        return {
            "service": "data", "duration_s": 3600, "min_rate_bps": min_rate,
            "window_start": (day + timedelta(hours=start_h)).isoformat(),
            "window_end": (day + timedelta(hours=end_h)).isoformat(),
        }  # fmt: skip

    def forward(title: str, start_h: int, end_h: int, min_rate: int, quantity: int = 1) -> Any:
        body = w.auction_body(title=title, terms=terms(start_h, end_h, min_rate), quantity=quantity)
        return w.post("/v1/auctions", provider, json=body)

    e = error(w.client.put("/v1/providers/me/capacity", json={"capacity_bps": 10},
                           headers=recipient.headers), 403)  # fmt: skip
    assert e["message"] == "only a provider declares capacity"
    r = w.client.put(
        "/v1/providers/me/capacity", json={"capacity_bps": 1_000_000}, headers=provider.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"capacity_bps": 1_000_000, "committed_bps": 0}

    # Two blocks of 300 kbit/s from 10:00 to 12:00 hold 600 kbit/s then.
    r = forward("Morning", 10, 12, 300_000, quantity=2)
    assert r.status_code == 201, r.text
    morning = r.json()["id"]
    e = error(forward("Late morning", 11, 13, 250_000, quantity=2), 409)
    assert e["message"] == (
        "capacity exceeded: auction 'Late morning' needs 500000 bit/s at its minimum rate, the "
        "provider declares 1000000 bit/s; already committed at the busiest moment: 600000 bit/s "
        f"(auction {morning} 600000 bit/s); 1100000 bit/s > 1000000 bit/s"
    )
    # The same blocks from noon, when the morning's are over, fit.
    assert forward("Afternoon", 12, 14, 250_000, quantity=2).status_code == 201
    assert forward("Top-up", 9, 11, 400_000).status_code == 201  # 600 + 400 = all of it
    r = w.get("/v1/providers/me/capacity", provider)
    assert r.json() == {"capacity_bps": 1_000_000, "committed_bps": 1_500_000}

    # A provider's bid on a reverse auction with a minimum rate commits it too.
    buyer = w.account("Hospital", "recipient")

    def reverse(start_h: int, end_h: int, min_rate: int) -> str:
        return str(w.create_auction(buyer, "reverse", terms=terms(start_h, end_h, min_rate))["id"])

    busy, quiet = reverse(10, 11, 100_000), reverse(15, 16, 900_000)
    e = error(w.bid(provider, busy, "20.00"), 409)
    assert e["message"].startswith(
        f"capacity exceeded: a bid on auction {busy} needs 100000 bit/s at its minimum rate"
    )
    assert e["message"].endswith("; 1100000 bit/s > 1000000 bit/s")
    r = w.bid(provider, quiet, "20.00")
    assert r.status_code == 201, r.text
    assert w.bid(provider, quiet, "19.00").status_code == 201  # already committed: no recount

    # Once the morning's auction closes, its contract in force holds what was sold.
    assert w.bid(recipient, morning, "50.00").status_code == 201
    w.clock.advance(2 * 3600)
    r = w.post(f"/v1/auctions/{morning}/close", provider)
    assert r.status_code == 200, r.text
    (sold,) = [c for c in w.get("/v1/contracts", recipient).json()["items"]
               if c["auction_id"] == morning]  # fmt: skip
    assert sold["status"] == "awarded"
    e = error(forward("Mid-morning", 10, 11, 350_000), 409)
    assert f"contract {sold['id']} 300000 bit/s" in e["message"]
    assert e["message"].endswith("; 1050000 bit/s > 1000000 bit/s")
    assert forward("Mid-morning", 10, 11, 300_000).status_code == 201


def test_only_other_recipient_accounts_become_members_and_only_the_recipient_adds(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, max_members=5)
    cid = contract["id"]
    carrier = w.account("Another carrier", "provider")
    for who, message in (
        (provider, "the contract's own parties are not added as members"),
        (recipient, "the contract's own parties are not added as members"),
        (
            carrier,
            f"account {carrier.id} is not a recipient account; a block is shared among recipients",
        ),
    ):
        r = w.post(f"/v1/contracts/{cid}/members", recipient, json={"account_id": who.id})
        assert error(r, 422)["message"] == message
    partner = w.account("Partner clinic", "recipient")
    add_member(w, recipient, cid, account_id=partner.id)
    r = w.post(f"/v1/contracts/{cid}/members", partner, json={"phone_number": NUMBERS[0]})
    assert error(r, 403)["message"] == "only the contract's recipient adds members"
    assert [m["kind"] for m in w.get(f"/v1/contracts/{cid}", recipient).json()["members"]] == [
        "account"
    ]


def test_a_used_up_block_frees_capacity_and_capacity_cannot_drop_below_commitments(
    world: World,  # noqa: F811
    parties: tuple[Actor, Actor],
) -> None:
    w = world
    provider, recipient = parties
    r = w.client.put("/v1/providers/me/capacity", json={"capacity_bps": 5_000_000},
                     headers=provider.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    (contract,) = won_contracts(w, provider, recipient, service="data", duration_s=60,
                                min_rate_bps=4_000_000)  # fmt: skip
    cid = contract["id"]
    another = w.auction_body(title="Another", terms={"service": "data", "duration_s": 60,
                                                     "min_rate_bps": 4_000_000})  # fmt: skip
    e = error(w.post("/v1/auctions", provider, json=another), 409)
    assert f"contract {cid} 4000000 bit/s" in e["message"]
    e = error(w.client.put("/v1/providers/me/capacity", json={"capacity_bps": 1_000_000},
                           headers=provider.headers), 409)  # fmt: skip
    assert e["message"] == (
        "capacity_bps 1000000 is less than the 4000000 bit/s already committed at the busiest "
        "moment (contracts in force, open auctions and bids); lower it once those end"
    )

    member = add_member(w, recipient, cid, phone_number=NUMBERS[0])
    assert report(w, cid, recipient.headers, member["id"], 60).status_code == 201
    done = w.get(f"/v1/contracts/{cid}", recipient).json()
    assert (done["status"], done["usage"]["remaining_seconds"]) == ("completed", 0)
    e = error(report(w, cid, recipient.headers, member["id"], 1), 409)
    assert e["message"] == f"contract {cid}: the block of 60 s is used up"
    # Its service is over, so its capacity is free for the next block.
    assert w.post("/v1/auctions", provider, json=another).status_code == 201
