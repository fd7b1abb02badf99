"""Subcontracts are business on the exchange (SPEC S5, S10), through the HTTP API, on every
storage.

The story first: a recipient buys ``transcode:pcmu, dtmf`` from provider A, which does dtmf
only; A subcontracts the transcoding to B, B's node checks the work and meters the packets,
and A's check closes the subcontract: B is rated by it, A is charged exactly, B is paid. Then
who sees what, and every refusal with the status and message a provider sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiActor as Actor
from api_support import ApiWorld as World
from test_api_ratings import bearer, error, reputation

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.services.commands import ChargeDue
from commex.settings import Settings

VISA = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
STEPS = ["transcode:pcmu", "dtmf"]


def _public(_host: str) -> list[str]:
    return ["93.184.215.14"]  # every node name resolves to a public address


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, api_world: World, api_clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    """The API over each storage, with reputations read from the rating tallies."""
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    kw: dict[str, Any] = {"clock": api_clock, "hasher": hasher, "resolve": _public}
    if request.param == "memory":
        services: Services = in_memory_services(**kw)
    else:
        url = request.getfixturevalue("migrated_store")(request.param)
        services = build_services(Settings(tmp_path, url), **kw)
    w = type(api_world)(services, api_clock)
    try:
        with w.client:
            yield w
    finally:
        services.shutdown()


@dataclass
class Market:
    """A recipient's contract with provider A (steps ``transcode:pcmu, dtmf``), and providers
    B and C offering transcoding; A has a card, the recipient approved A and B only."""

    w: World
    recipient: Actor
    a: Actor
    b: Actor
    c: Actor
    contract: dict[str, Any]


def offer(w: World, who: Actor, price: str, capabilities: list[str]) -> None:
    body = {
        "node_url": f"https://node.{who.name.lower().replace(' ', '-')}.example.net",
        "capabilities": capabilities,
        "price": price,
        "currency": "EUR",
    }
    r = w.client.put("/v1/providers/me/offer", json=body, headers=who.headers)
    assert r.status_code == 200, r.text


def market(w: World, approved: tuple[str, ...] = ("a", "b"), card: bool = True) -> Market:
    recipient = w.account("Harbour Clinic", "recipient")
    a, b, c = (w.account(n, "provider") for n in ("Alpha", "Bravo", "Charlie"))
    actors = {"a": a, "b": b, "c": c}
    offer(w, a, "0.10", ["dtmf"])
    offer(w, b, "2.50", ["transcode"])
    offer(w, c, "1.75", ["transcode", "gain"])
    terms = {"service": "stream-processing", "duration_s": 3600, "steps": STEPS}
    eligibility = {"approved_providers": [actors[x].id for x in approved]}
    auction = w.create_auction(
        recipient, "reverse", terms=terms, reserve="80.00", eligibility=eligibility
    )
    assert w.bid(a, auction["id"], "50.00").status_code == 201
    w.clock.advance(2 * 3600)
    closed = w.post(f"/v1/auctions/{auction['id']}/close", recipient)
    assert closed.status_code == 200, closed.text
    contract_id = closed.json()["outcome"]["winners"][0]["contract_id"]
    if card:
        r = w.post("/v1/payment-methods", a, json=VISA)
        assert r.status_code == 201, r.text
    contract = w.get(f"/v1/contracts/{contract_id}", a).json()
    return Market(w, recipient, a, b, c, contract)


def open_sub(m: Market, to: Actor, step: str = "transcode:pcmu", by: Actor | None = None) -> Any:
    body = {"parent_contract_id": m.contract["id"], "provider_id": to.id, "step": step}
    return m.w.post("/v1/subcontracts", by or m.a, json=body)


def node_key(w: World, who: Actor, name: str = "node 1") -> str:
    r = w.post("/v1/providers/me/node-keys", who, json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


# -- the story -----------------------------------------------------------------------------------


def test_a_subcontract_is_opened_metered_rated_charged_and_paid_out(world: World) -> None:
    m = market(world)
    r = open_sub(m, m.b)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["kind"], sub["parent_contract_id"], sub["step"]) == (
        "subcontract", m.contract["id"], "transcode:pcmu"
    )  # fmt: skip
    assert (sub["provider"]["name"], sub["subcontracting_provider"]["name"]) == ("Bravo", "Alpha")
    assert (sub["price_per_1000_packets"], sub["currency"], sub["packets"]) == ("2.50", "EUR", 0)
    work_token = sub["work_token"]

    # B's node, with a key the exchange issued to B, checks the work and meters it per run.
    key = node_key(world, m.b)
    check = world.post(
        f"/v1/subcontracts/{sub['id']}/work-check", json={"work_token": work_token},
        headers=bearer(key),
    )  # fmt: skip
    assert check.status_code == 200, check.text
    assert check.json()["step"] == "transcode:pcmu"
    for run, packets in (("run-1", 1000), ("run-2", 330), ("run-2", 330)):  # a retry, once
        r = world.post(
            f"/v1/subcontracts/{sub['id']}/packets", json={"run_id": run, "packets": packets},
            headers=bearer(key),
        )  # fmt: skip
        assert r.status_code == 201, r.text
    assert r.json()["repeated"] is True and r.json()["total_packets"] == 1330

    # A's plane checked the results: B is rated, A is charged 2.50 x 1,330 / 1,000 = 3.325,
    # rounded half up to 3.33 EUR, and B is paid that.
    r = world.post(
        f"/v1/subcontracts/{sub['id']}/outcome", m.a, json={"outcome": "passed", "packets": 1330}
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert (closed["status"], closed["outcome"], closed["amount"]) == (
        "completed",
        "passed",
        "3.33",
    )
    assert closed["rating"]["satisfied"] is True
    assert closed["charge"]["amount"] == "3.33"
    world.services.bus.handle(ChargeDue())
    charges = world.get(f"/v1/contracts/{sub['id']}/charges", m.a).json()
    assert [(c["payer_id"], c["amount"], c["status"]) for c in charges["charges"]] == [
        (m.a.id, "3.33", "succeeded")
    ]
    assert [(p["provider_id"], p["amount"]) for p in charges["payouts"]] == [(m.b.id, "3.33")]
    assert reputation(world, m.a, m.b.id, "provider")["positive"] == 1

    # The parent shows the subcontract: to A with its price, to the recipient without.
    seen_by_a = world.get(f"/v1/contracts/{m.contract['id']}", m.a).json()["subcontracts"]
    assert [(s["id"], s["provider"]["name"], s["packets"], s["amount"]) for s in seen_by_a] == [
        (sub["id"], "Bravo", 1330, "3.33")
    ]
    assert "reputation" in seen_by_a[0]["provider"]
    seen = world.get(f"/v1/contracts/{m.contract['id']}", m.recipient).json()["subcontracts"]
    assert [(s["step"], s["provider"]["name"], s["status"]) for s in seen] == [
        ("transcode:pcmu", "Bravo", "completed")
    ]
    assert not {"amount", "price_per_1000_packets", "charge", "currency"} & set(seen[0])
    assert "2.50" not in str(seen) and "3.33" not in str(seen)


def test_a_subcontract_is_seen_by_its_two_providers_and_nobody_else(world: World) -> None:
    m = market(world)
    sub = open_sub(m, m.b).json()
    for who in (m.a, m.b):
        r = world.get(f"/v1/contracts/{sub['id']}", who)
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == "subcontract"
        assert r.json()["subcontract"]["price_per_1000_packets"] == "2.50"
        assert world.get(f"/v1/subcontracts/{sub['id']}", who).status_code == 200
        listed = world.get("/v1/subcontracts", who).json()["items"]
        assert [s["id"] for s in listed] == [sub["id"]]
    for who in (m.recipient, m.c):
        assert error(world.get(f"/v1/contracts/{sub['id']}", who), 404)["code"] == "not_found"
        assert world.get(f"/v1/subcontracts/{sub['id']}", who).status_code == 404
        assert world.get("/v1/subcontracts", who).json()["items"] == []
    # Nobody rates it by hand: the plane's check rates it, once.
    r = world.post(f"/v1/contracts/{sub['id']}/ratings", m.a, json={"satisfied": False})
    assert "rated by the plane's own check" in error(r, 403)["message"]


def test_a_dead_node_rates_negatively_and_the_failover_is_charged_only_its_packets(
    world: World,
) -> None:
    m = market(world, approved=())
    bravo, charlie = open_sub(m, m.b).json(), open_sub(m, m.c).json()
    for sub, who, packets in ((bravo, m.b, 400), (charlie, m.c, 930)):
        r = world.post(
            f"/v1/subcontracts/{sub['id']}/packets", json={"run_id": "r1", "packets": packets},
            headers=bearer(node_key(world, who)),
        )  # fmt: skip
        assert r.status_code == 201, r.text
    dead = {"outcome": "dead_node", "detail": "no answer after 400 packets", "packets": 450}
    assert world.post(f"/v1/subcontracts/{bravo['id']}/outcome", m.a, json=dead).status_code == 200
    ok = world.post(
        f"/v1/subcontracts/{charlie['id']}/outcome", m.a, json={"outcome": "passed", "packets": 930}
    )
    assert ok.json()["amount"] == "1.63"  # 1.75 x 930 / 1,000 = 1.6275
    assert reputation(world, m.a, m.b.id, "provider")["negative"] == 1
    assert reputation(world, m.a, m.c.id, "provider")["positive"] == 1
    # Closing again the same way changes nothing; another way is refused.
    again = world.post(f"/v1/subcontracts/{bravo['id']}/outcome", m.a, json=dead)
    assert again.status_code == 200 and again.json()["rating"]["satisfied"] is False
    r = world.post(
        f"/v1/subcontracts/{bravo['id']}/outcome", m.a, json={"outcome": "passed", "packets": 450}
    )
    assert "closed as dead_node already" in error(r, 409)["message"]
    assert reputation(world, m.a, m.b.id, "provider")["count"] == 1
    # Nothing is metered after the close.
    r = world.post(
        f"/v1/subcontracts/{bravo['id']}/packets", json={"run_id": "r2", "packets": 5},
        headers=bearer(node_key(world, m.b, "node 2")),
    )  # fmt: skip
    assert "is closed" in error(r, 409)["message"]
    # The ranking of transcoding offers now puts C (a clean check) above B.
    found = world.get("/v1/providers?capability=transcode", m.a).json()["items"]
    assert [o["provider"]["name"] for o in found] == ["Charlie", "Bravo"]
    assert [o["checks"] for o in found] == [
        {"positive": 1, "negative": 0}, {"positive": 0, "negative": 1}
    ]  # fmt: skip


# -- refusals ------------------------------------------------------------------------------------


def test_the_recipients_approved_providers_bound_the_subcontractors(world: World) -> None:
    m = market(world, approved=("a", "b"))
    r = open_sub(m, m.c)
    err = error(r, 403)
    assert err["code"] == "not_eligible"
    assert err["message"] == (
        f"Charlie is not among the providers the recipient of contract {m.contract['id']} approved"
    )
    assert world.get("/v1/subcontracts", m.a).json()["items"] == []


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("self", 422, "a subcontract goes to a different provider, not to you"),
        ("same owner", 422, "a subcontract goes to a different provider, not to you"),
        ("step not bought", 422, "step 'gain' is not one of the contract's steps"),
        ("bad step", 422, "step must be a step such as 'transcode:pcmu'"),
        ("no offer", 404, "Bravo offers no 'dtmf' processing"),
        ("not the provider", 404, "not found"),
        ("recipient", 403, "only the contract's provider subcontracts its steps"),
    ],
)
def test_a_subcontract_is_refused_saying_why(
    world: World, case: str, status: int, says: str
) -> None:
    m = market(world, approved=())
    if case == "self":
        r = open_sub(m, m.a, "dtmf")
    elif case == "same owner":
        r = world.post("/v1/accounts", m.a, json={"name": "Alpha Labs", "roles": ["provider"]})
        sibling = type(m.a)(r.json()["id"], "Alpha Labs", r.json()["token"])
        offer(world, sibling, "0.01", ["transcode"])
        r = open_sub(m, sibling)
    elif case == "step not bought":
        r = open_sub(m, m.c, "gain")
    elif case == "bad step":
        r = open_sub(m, m.b, "transcode:\x1b[31m")
    elif case == "no offer":
        r = open_sub(m, m.b, "dtmf")
    elif case == "not the provider":
        r = open_sub(m, m.b, by=m.c)
    else:
        r = open_sub(m, m.b, by=m.recipient)
    assert says in error(r, status)["message"]


def test_a_provider_without_a_card_cannot_subcontract(world: World) -> None:
    m = market(world, card=False)
    err = error(open_sub(m, m.b), 409)
    assert err["code"] == "payment_method_required"
    assert (
        err["message"]
        == "a subcontract is charged to your card: save a card before you subcontract"
    )


# -- node keys -------------------------------------------------------------------------------------


def test_only_a_key_of_the_named_provider_with_the_plane_s_token_gets_the_work(
    world: World,
) -> None:
    m = market(world)
    sub = open_sub(m, m.b).json()
    path = f"/v1/subcontracts/{sub['id']}/work-check"
    good = {"work_token": sub["work_token"]}
    forged = "cxn_" + "A" * 43
    assert error(world.post(path, json=good, headers=bearer(forged)), 401)["message"] == (
        "that node key is unknown or revoked"
    )
    other = node_key(world, m.c)  # a real key, of another provider
    assert error(world.post(path, json=good, headers=bearer(other)), 404)["code"] == "not_found"
    key = node_key(world, m.b)
    r = world.post(path, json={"work_token": "cxw_forged"}, headers=bearer(key))
    assert error(r, 403)["message"] == f"that work token is not the one of subcontract {sub['id']}"
    assert world.post(path, json=good, headers=bearer(key)).status_code == 200
    # B's own token works too (a provider may run its node with it); a recipient's never.
    assert world.post(path, json=good, headers=m.b.headers).status_code == 200
    r = world.post(path, json=good, headers=m.recipient.headers)
    assert error(r, 403)["message"] == "only a provider's nodes do subcontracted work"
    # A node key is good for its node's calls only.
    assert error(world.get("/v1/contracts", headers=bearer(key)), 403)["message"] == (
        "a node key may only check and meter work under its subcontracts"
    )


def test_node_keys_are_shown_once_listed_without_the_key_and_revocable(world: World) -> None:
    m = market(world)
    sub = open_sub(m, m.b).json()
    r = world.post("/v1/providers/me/node-keys", m.b, json={"name": "rack 4"})
    issued = r.json()
    assert issued["key"].startswith("cxn_") and issued["hint"] == f"...{issued['key'][-4:]}"
    listed = world.get("/v1/providers/me/node-keys", m.b).json()["items"]
    assert [(k["id"], k["name"], k["revoked_at"]) for k in listed] == [
        (issued["id"], "rack 4", None)
    ]
    assert issued["key"] not in str(listed)
    assert world.get("/v1/providers/me/node-keys", m.c).json()["items"] == []
    r = world.client.delete(f"/v1/providers/me/node-keys/{issued['id']}", headers=m.c.headers)
    assert error(r, 404)["message"] == f"node key {issued['id']} not found"
    r = world.client.delete(f"/v1/providers/me/node-keys/{issued['id']}", headers=m.b.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    check = world.post(
        f"/v1/subcontracts/{sub['id']}/work-check", json={"work_token": sub["work_token"]},
        headers=bearer(issued["key"]),
    )  # fmt: skip
    assert error(check, 401)["message"] == "that node key is unknown or revoked"
    r = world.post("/v1/providers/me/node-keys", m.recipient, json={"name": "x"})
    assert error(r, 403)["message"] == "only a provider runs processing nodes"
    r = world.post("/v1/providers/me/node-keys", m.b, json={"name": "\x1b[2J"})
    assert error(r, 422)["message"] == "name must not hold control characters"


def test_a_run_is_metered_once_and_its_count_cannot_change(world: World) -> None:
    m = market(world)
    sub = open_sub(m, m.b).json()
    key = node_key(world, m.b)
    path = f"/v1/subcontracts/{sub['id']}/packets"
    assert (
        world.post(path, json={"run_id": "r", "packets": 10}, headers=bearer(key)).json()[
            "repeated"
        ]
        is False
    )
    r = world.post(path, json={"run_id": "r", "packets": 11}, headers=bearer(key))
    assert (
        error(r, 409)["message"]
        == "this run was metered with 10 packets, not 11: a run is reported once"
    )
    r = world.post(path, json={"run_id": "r 2", "packets": 1}, headers=bearer(key))
    assert error(r, 422)["message"] == "run_id must be 1 to 64 letters, digits or _.:-"
    r = world.post(path, json={"run_id": "r3", "packets": -1}, headers=bearer(key))
    assert r.status_code == 422
    assert world.get(f"/v1/subcontracts/{sub['id']}", m.a).json()["packets"] == 10


@pytest.mark.parametrize(
    ("outcome", "metered", "sent", "packets", "charged"),
    [
        ("passed", 5000, 1330, 1330, "3.33"),  # metered above what was sent: the sent count
        ("dead_node", 400, 1330, 400, "1.00"),  # metered below: what was metered
        ("failed_check", 1330, 1330, 1330, None),  # a wrong answer is not paid for
    ],
)
def test_the_charge_is_the_fewer_of_the_packets_metered_and_sent(
    world: World, outcome: str, metered: int, sent: int, packets: int, charged: str | None
) -> None:
    m = market(world, approved=())
    sub = open_sub(m, m.b).json()
    r = world.post(
        f"/v1/subcontracts/{sub['id']}/packets", json={"run_id": "r1", "packets": metered},
        headers=bearer(node_key(world, m.b)),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    missing = world.post(f"/v1/subcontracts/{sub['id']}/outcome", m.a, json={"outcome": outcome})
    assert error(missing, 422)["field"] == "packets"  # the plane must say what it sent
    body = {"outcome": outcome, "packets": sent}
    closed = world.post(f"/v1/subcontracts/{sub['id']}/outcome", m.a, json=body).json()
    assert (closed["packets"], closed["amount"]) == (packets, charged or "0.00")
    assert (closed["charge"] and closed["charge"]["amount"]) == charged
    world.services.bus.handle(ChargeDue())
    charges = world.get(f"/v1/contracts/{sub['id']}/charges", m.a).json()
    assert [c["amount"] for c in charges["charges"]] == ([charged] if charged else [])
    assert closed["rating"]["satisfied"] is (outcome == "passed")


def test_subcontracts_and_node_keys_page_with_a_cursor_while_more_are_added(
    world: World,
) -> None:
    m = market(world, approved=("a", "b", "c"))
    opened = {open_sub(m, to).json()["id"] for to in (m.b, m.c, m.b)}
    first = world.get("/v1/subcontracts?limit=2", m.a).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    world.clock.advance(1)
    late = open_sub(m, m.c).json()["id"]  # opened between the pages, so newer
    rest = world.get(f"/v1/subcontracts?limit=2&cursor={first['next_cursor']}", m.a).json()
    seen = [s["id"] for s in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(opened) and rest["next_cursor"] is None
    assert late not in seen
    assert len(world.get("/v1/subcontracts", m.a).json()["items"]) == 4
    r = world.get(f"/v1/subcontracts?cursor={first['next_cursor']}x", m.a)
    assert error(r, 422)["message"] == "cursor is not one this list gave; start again without it"

    issued = [node_key(world, m.b, f"rack {i}") for i in range(3)]
    first = world.get("/v1/providers/me/node-keys?limit=2", m.b).json()
    cursor = first["next_cursor"]
    rest = world.get(f"/v1/providers/me/node-keys?limit=2&cursor={cursor}", m.b).json()
    names = [k["name"] for k in first["items"] + rest["items"]]
    assert sorted(names) == ["rack 0", "rack 1", "rack 2"] and rest["next_cursor"] is None
    assert all(key not in str(first) + str(rest) for key in issued)
    r = world.get(f"/v1/subcontracts?cursor={cursor}", m.a)  # another list's cursor
    assert error(r, 422)["message"] == "cursor is not one this list gave; start again without it"
