"""Groups through the HTTP API (G1-G3, B2, R2): the story of a group of four that buys a service
together, and every refusal on the way, with its message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiActor, ApiWorld

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.services.commands import AddCard, ChargeDue
from commex.settings import Settings
from support.engine import close_due

GOOD, DECLINED = "4242424242424242", "4000000000000002"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, api_clock: ManualClock, tmp_path: Path
) -> Iterator[ApiWorld]:
    """The API with real reputations (the tallies payment ratings move), over each storage."""
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    if request.param == "memory":
        services: Services = in_memory_services(clock=api_clock, hasher=hasher)
    else:
        url = request.getfixturevalue("migrated_store")(request.param)
        services = build_services(Settings(tmp_path, url), clock=api_clock, hasher=hasher)
    w = ApiWorld(services, api_clock)
    try:
        with w.client:
            yield w
    finally:
        services.shutdown()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"], response.text


def put(w: ApiWorld, path: str, who: ApiActor, body: Any) -> Any:
    return w.client.put(path, headers=who.headers, json=body)


def add_card(w: ApiWorld, who: ApiActor, number: str) -> None:
    w.services.bus.handle(AddCard(who.id, number, 12, w.clock.now().year + 3, "123"))


def group_of_four(w: ApiWorld) -> tuple[dict[str, Any], dict[str, ApiActor]]:
    """Ann (creator, pledges 60) and Bob (pledges 40) pay; Cat and Dan are sponsored by Ann."""
    people = {n: w.account(n, "recipient") for n in ("Ann", "Bob", "Cat", "Dan")}
    ann = people["Ann"]
    group = ok(
        w.post(
            "/v1/groups", ann, json={"name": "Harbour St", "currency": "EUR", "pledge": "60.00"}
        ),
        201,
    )
    gid = group["id"]
    answers = {
        "Bob": {"answer": "payer", "pledge": "40.00"},
        "Cat": {"answer": "non-payer"},
        "Dan": {"answer": "non-payer"},
    }
    for name, answer in answers.items():
        w.clock.advance(1)  # members join one after another: the split's ties follow that order
        ok(w.post(f"/v1/groups/{gid}/invitations", ann, json={"account_id": people[name].id}), 201)
        ok(w.post(f"/v1/groups/{gid}/membership", people[name], json=answer))
    body = {"sponsored": [people["Cat"].id, people["Dan"].id]}
    ok(put(w, f"/v1/groups/{gid}/sponsorships", ann, body))
    return ok(w.get(f"/v1/groups/{gid}", ann)), people


def open_group_auction(w: ApiWorld, gid: str, who: ApiActor, **extra: Any) -> Any:
    body = w.auction_body("reverse") | extra
    body.pop("direction")
    body.pop("currency")
    return w.post(f"/v1/groups/{gid}/auctions", who, json=body)


def test_a_group_of_four_buys_together_pays_its_shares_and_is_rated_for_it(world: ApiWorld) -> None:
    w = world
    group, people = group_of_four(w)
    ann, bob, cat, dan = (people[n] for n in ("Ann", "Bob", "Cat", "Dan"))
    gid = group["id"]
    seen_by_cat = ok(w.get(f"/v1/groups/{gid}", cat))
    cat_line = next(m for m in seen_by_cat["members"] if m["account"]["id"] == cat.id)
    assert [s["name"] for s in cat_line["sponsored_by"]] == ["Ann"]
    assert cat_line["state"] == "non-payer" and not cat_line["unsponsored"]
    assert seen_by_cat["ceiling"] == "100.00" and "in proportion" in seen_by_cat["split_rule_text"]
    add_card(w, ann, GOOD)
    add_card(w, bob, GOOD)

    auction = ok(open_group_auction(w, gid, ann), 201)
    assert (auction["reserve"], auction["terms"]["max_members"]) == ("100.00", 4)
    seller = w.account("Northwind", "provider")
    shown = w.auction(seller, auction["id"])["group"]
    assert shown["name"] == "Harbour St"
    assert [(p["name"], p["pledge"]) for p in shown["payers"]] == [
        ("Ann", "60.00"), ("Bob", "40.00"),
    ]  # fmt: skip
    assert all(p["reputation"]["role"] == "recipient" for p in shown["payers"])
    refused(w.bid(seller, auction["id"], "100.01"), 422, "100.00")  # above the ceiling
    ok(w.bid(seller, auction["id"], "75.01"), 201)
    refused(w.post(f"/v1/groups/{gid}/membership", bob, json={"answer": "payer", "pledge": "1.00"}),
            409, "is under way: membership and pledges")  # fmt: skip

    w.clock.advance(3601)
    close_due(w.services.bus)
    run = w.services.bus.handle(ChargeDue())
    assert len(run.created) == 2
    contract_id = w.auction(ann, auction["id"])["outcome"]["winners"][0]["contract_id"]
    charges = ok(w.get(f"/v1/contracts/{contract_id}/charges", bob))["charges"]
    shares = {c["payer_id"]: c["amount"] for c in charges}
    assert shares == {ann.id: "45.01", bob.id: "30.00"}  # 60:40 of 75.01, the odd cent to Ann
    assert all(c["status"] == "succeeded" for c in charges)
    for member in (ann, bob, cat, dan):  # every member sees the contract and is on it
        seen = ok(w.get(f"/v1/contracts/{contract_id}/charges", member))
        assert seen["group_id"] == gid and len(seen["charges"]) == 2
    provided = ok(w.get(f"/v1/contracts/{contract_id}/charges", seller))["group"]["members"]
    assert {
        m["account"]["name"]: (m["state"], [p["name"] for p in m["sponsored_by"]], m["share"])
        for m in provided
    } == {
        "Ann": ("payer", [], "45.01"),
        "Bob": ("payer", [], "30.00"),
        "Cat": ("non-payer", ["Ann"], None),
        "Dan": ("non-payer", ["Ann"], None),
    }
    members = ok(w.get(f"/v1/contracts/{contract_id}", ann))["members"]
    assert sorted(m["account"] for m in members) == sorted(p.id for p in people.values())
    on_page = ok(w.get(f"/v1/groups/{gid}", dan))["auctions"][0]
    assert [(s["payer"]["name"], s["amount"], s["charge_status"]) for s in on_page["shares"]] == [
        ("Ann", "45.01", "succeeded"), ("Bob", "30.00", "succeeded"),
    ]  # fmt: skip

    # Both payment ratings show in the next auction.
    again = ok(open_group_auction(w, gid, ann), 201)
    payers = w.auction(seller, again["id"])["group"]["payers"]
    assert [(p["reputation"]["positive"], p["reputation"]["count"]) for p in payers] == [
        (pytest.approx(1.0), 1), (pytest.approx(1.0), 1),
    ]  # fmt: skip


def test_a_declined_card_is_a_negative_payment_rating_in_the_next_auction(world: ApiWorld) -> None:
    w = world
    buyer = w.account("Quay Cafe", "recipient")
    seller = w.account("Northwind", "provider")
    add_card(w, buyer, DECLINED)
    auction = w.create_auction(buyer, "reverse")
    ok(w.bid(seller, auction["id"], "20.00"), 201)
    w.clock.advance(3601)
    close_due(w.services.bus)
    for _ in range(3):
        w.services.bus.handle(ChargeDue())
        w.clock.advance(86400)
    (charge,) = ok(w.get("/v1/charges", buyer))["items"]
    assert (charge["status"], charge["declines"], charge["decline_code"]) == (
        "declined", 3, "card_declined",
    )  # fmt: skip
    later = w.create_auction(buyer, "reverse")
    rep = w.auction(seller, later["id"])["owner"]["reputation"]
    assert (rep["negative"], rep["count"]) == (pytest.approx(1.0, abs=0.01), 1)


def test_retry_is_the_payers_and_honours_its_idempotency_key(world: ApiWorld) -> None:
    w = world
    buyer = w.account("Quay Cafe", "recipient")
    seller = w.account("Northwind", "provider")
    auction = w.create_auction(buyer, "reverse")
    ok(w.bid(seller, auction["id"], "20.00"), 201)
    w.clock.advance(3601)
    close_due(w.services.bus)
    w.services.bus.handle(ChargeDue())  # no card yet
    contract_id = w.auction(buyer, auction["id"])["outcome"]["winners"][0]["contract_id"]
    add_card(w, buyer, GOOD)
    path = f"/v1/contracts/{contract_id}/charges/retry"
    first = ok(w.post(path, buyer, headers={"Idempotency-Key": "pay-1"}))["items"]
    again = ok(w.post(path, buyer, headers={"Idempotency-Key": "pay-1"}))["items"]
    assert first == again and first[0]["status"] == "succeeded" and first[0]["attempts"] == 2
    refused(w.post(path, seller), 404, "no charge on contract")
    stranger = w.account("Stranger", "recipient")
    refused(w.get(f"/v1/contracts/{contract_id}/charges", stranger), 404, "not found")
    payout = ok(w.get(f"/v1/contracts/{contract_id}/charges", seller))["payouts"]
    assert [(p["provider_id"], p["amount"]) for p in payout] == [(seller.id, "20.00")]


def test_group_refusals_name_the_field_and_the_numbers(world: ApiWorld) -> None:
    w = world
    group, people = group_of_four(w)
    ann, bob, cat = people["Ann"], people["Bob"], people["Cat"]
    gid = group["id"]
    stranger = w.account("Eve", "recipient")
    refused(w.get(f"/v1/groups/{gid}", stranger), 404, f"group {gid} not found")
    refused(w.post(f"/v1/groups/{gid}/invitations", bob, json={"account_id": stranger.id}),
            403, "only the group's creator invites")  # fmt: skip
    seller = w.account("Northwind", "provider")
    refused(w.post(f"/v1/groups/{gid}/invitations", ann, json={"account_id": seller.id}),
            422, "is not a recipient")  # fmt: skip
    refused(w.post(f"/v1/groups/{gid}/membership", bob, json={"answer": "payer"}),
            422, 'states its pledge, such as "20.00" EUR')  # fmt: skip
    refused(put(w, f"/v1/groups/{gid}/sponsorships", cat, {"sponsored": [people["Dan"].id]}),
            403, "only a payer sponsors")  # fmt: skip
    refused(open_group_auction(w, gid, ann, reserve="100.01"),
            422, "100.01 EUR is above what the payers pledged, 100.00 EUR")  # fmt: skip
    refused(open_group_auction(w, gid, ann, terms={"service": "voice", "duration_s": 60,
                                                    "max_members": 3}),
            422, "terms.max_members must be at least 4")  # fmt: skip
    refused(open_group_auction(w, gid, bob), 403, "only the group's creator opens")
    refused(w.post("/v1/groups", ann, json={"name": "X", "currency": "EUR", "pledge": "-1"}),
            422, "pledge")  # fmt: skip
    # Leaving: a sponsored member who leaves is no longer sponsored, nor sees the group.
    gone = ok(w.post(f"/v1/groups/{gid}/membership", cat, json={"answer": "leave"}))
    assert gone == {"id": gid, "member": False}
    refused(w.get(f"/v1/groups/{gid}", cat), 404, "not found")
    ann_line = next(m for m in ok(w.get(f"/v1/groups/{gid}", ann))["members"]
                    if m["account"]["id"] == ann.id)  # fmt: skip
    assert [p["name"] for p in ann_line["sponsoring"]] == ["Dan"]
    assert [g["id"] for g in ok(w.get("/v1/groups", bob))["items"]] == [gid]


def test_pay_now_keeps_the_days_of_grace_and_a_card_saved_later_is_charged(
    world: ApiWorld,
) -> None:
    """The payer's "pay now" with no card, or on the card just declined, is a 409 that names the
    next scheduled try and counts nothing; a card saved, or made the default, is tried at once."""
    w = world
    buyer = w.account("Quay Cafe", "recipient")
    seller = w.account("Northwind", "provider")
    auction = w.create_auction(buyer, "reverse")
    ok(w.bid(seller, auction["id"], "20.00"), 201)
    w.clock.advance(3601)
    close_due(w.services.bus)
    w.services.bus.handle(ChargeDue())  # no card yet: the first scheduled try
    contract_id = w.auction(buyer, auction["id"])["outcome"]["winners"][0]["contract_id"]
    path = f"/v1/contracts/{contract_id}/charges/retry"
    for key in ("a", "b"):
        refused(w.post(path, buyer, headers={"Idempotency-Key": key}), 409,
                "has no card to try: save a card first and it is tried at once")  # fmt: skip
    (charge,) = ok(w.get("/v1/charges", buyer))["items"]
    assert (charge["status"], charge["attempts"], charge["declines"]) == ("pending", 1, 1)
    add_card(w, buyer, "4000000000000341")  # saved fine, declined at every charge
    (tried,) = ok(w.post(path, buyer, headers={"Idempotency-Key": "c"}))["items"]
    assert (tried["status"], tried["attempts"], tried["declines"]) == ("pending", 2, 2)
    for key in ("d", "e"):
        r = w.post(path, buyer, headers={"Idempotency-Key": key})
        refused(r, 409, "was last declined on the visa card ending in 0341")
        assert f"the next scheduled try is at {tried['next_attempt_at']}" in r.text
        assert "save another card, or make another card the default" in r.text
    add_card(w, buyer, GOOD)
    good = next(c for c in ok(w.get("/v1/payment-methods", buyer))["items"] if not c["default"])
    ok(w.post(f"/v1/payment-methods/{good['id']}/default", buyer))
    w.clock.advance(1)
    w.services.bus.handle(ChargeDue())  # the new default is tried without waiting for the day
    (paid,) = ok(w.get("/v1/charges", buyer))["items"]
    assert (paid["status"], paid["attempts"], paid["declines"]) == ("succeeded", 3, 2)
    rep = w.auction(seller, w.create_auction(buyer, "reverse")["id"])["owner"]["reputation"]
    assert (rep["positive"], rep["negative"]) == (pytest.approx(1.0, abs=0.01), 0)


def test_currencies_are_active_iso_4217_codes_and_amounts_say_their_limit(
    world: ApiWorld,
) -> None:
    w = world
    ann = w.account("Ann", "recipient")
    for currency, says in (
        ("ZZZ", "currency 'ZZZ' is not an active ISO 4217 currency code"),
        ("eur", "currency must be written in capitals: 'EUR', not 'eur'"),
    ):
        r = w.post("/v1/groups", ann, json={"name": "x", "currency": currency})
        refused(r, 422, says)
        assert r.json()["error"]["field"] == "currency"
        r = w.post("/v1/auctions", ann, json=w.auction_body("reverse", currency=currency))
        refused(r, 422, says)
    huge = {"name": "x", "currency": "EUR", "pledge": "9999999999999999.99"}
    refused(w.post("/v1/groups", ann, json=huge), 422, "pledge must be at most 9999999999999.99")
    ok(w.post("/v1/groups", ann, json={"name": "y", "currency": "JPY", "pledge": "5000"}), 201)
    assert ok(w.get("/v1/groups", ann))["items"][0]["currency"] == "JPY"
