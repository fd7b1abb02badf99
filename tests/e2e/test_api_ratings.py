"""Two-sided ratings through the HTTP API (SPEC R1-R5), on every storage.

The whole story first (win, rate both ways, see the reputations in later auctions), then every
way of abusing ratings the exchange must refuse, each with the status and message a user sees.
These worlds read reputation from the stored tallies, as a running exchange does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiActor as Actor
from api_support import ApiWorld as World

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.domain.reputation import PAIR_CAP, rating_weight
from commex.services.commands import ChargeDue
from commex.settings import Settings
from support.engine import start_due

CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def weight(payments: int = 1, age_days: float = 2 / 24) -> float:
    """What one rating of a paid 10.00 contract weighs, by a rater ``age_days`` old with
    ``payments`` succeeded charges (see ``rating_weight``)."""
    return rating_weight(Decimal("10.00"), age_days, payments)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, api_clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    """The API over each storage, with reputation read from the rating tallies (the conftest
    worlds show reputations set by hand)."""
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    if request.param == "memory":
        services: Services = in_memory_services(clock=api_clock, hasher=hasher)
    else:
        url = request.getfixturevalue("migrated_store")(request.param)
        services = build_services(Settings(tmp_path, url), clock=api_clock, hasher=hasher)
    rated = World(services, api_clock)
    try:
        with rated.client:
            yield rated
    finally:
        services.shutdown()


# -- helpers: act only through HTTP ------------------------------------------------------------


def won_contracts(
    w: World, provider: Actor, recipient: Actor, n: int = 1, paid: bool = False, **terms: Any
) -> list[dict[str, Any]]:
    """``n`` forward auctions of ``provider`` won by ``recipient``; their contracts, charged
    (as the scheduler does) when ``paid``: only a paid contract's ratings carry weight."""
    if paid and not w.get("/v1/payment-methods", recipient).json()["items"]:
        r = w.post("/v1/payment-methods", recipient, json=CARD)
        assert r.status_code == 201, r.text
    ids = []
    for _ in range(n):
        body_terms = {"service": "voice", "duration_s": 3600} | terms
        auction = w.create_auction(provider, terms=body_terms)
        r = w.bid(recipient, auction["id"], "10.00")
        assert r.status_code == 201, r.text
        ids.append(auction["id"])
    w.clock.advance(2 * 3600)
    for auction_id in ids:
        r = w.post(f"/v1/auctions/{auction_id}/close", provider)
        assert r.status_code == 200, r.text
    if paid:
        w.services.bus.handle(ChargeDue())
    r = w.get("/v1/contracts", recipient)
    assert r.status_code == 200, r.text
    contracts = [c for c in r.json()["items"] if c["auction_id"] in ids]
    assert len(contracts) == n
    return contracts


def rate(w: World, contract_id: str, headers: dict[str, str], **body: Any) -> Any:
    return w.client.post(f"/v1/contracts/{contract_id}/ratings", json=body, headers=headers)


def device(w: World, owner: Actor, name: str = "Desk phone") -> dict[str, Any]:
    body = {"name": name, "user": "Alice", "phone_numbers": ["+1 415 555 0123"]}
    r = w.post("/v1/devices", owner, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reputation(w: World, who: Actor, account_id: str, role: str) -> dict[str, Any]:
    r = w.get(f"/v1/accounts/{account_id}", who)
    assert r.status_code == 200, r.text
    return dict(r.json()["reputation"][f"as_{role}"])


def error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


@pytest.fixture
def parties(world: World) -> tuple[Actor, Actor]:
    return world.account("Carrier", "provider"), world.account("Clinic", "recipient")


# -- the whole story ---------------------------------------------------------------------------


def test_both_sides_rate_and_later_auctions_show_it(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, paid=True)
    assert contract["status"] == "active"

    # The recipient rates the provider from its account...
    r = rate(w, contract["id"], recipient.headers, satisfied=True, score=5, comment="  Clear. ")
    assert r.status_code == 201, r.text
    assert r.json()["rated_id"] == provider.id
    assert r.json()["rated_role"] == "provider"
    assert r.json()["comment"] == "Clear."

    # ...and from a member device, with the device's own token.
    phone = device(w, recipient)
    assert phone["phone_numbers"] == ["+14155550123"]
    assert phone["token"].startswith("cxd_")
    r = w.post(
        f"/v1/contracts/{contract['id']}/members", recipient, json={"device_id": phone["id"]}
    )
    assert r.status_code == 201, r.text
    r = rate(w, contract["id"], bearer(phone["token"]), satisfied=False, score=2)
    assert r.status_code == 201, r.text
    assert r.json()["device_id"] == phone["id"]
    assert r.json()["rater_id"] == recipient.id

    # The provider rates whether the recipient paid.
    r = rate(w, contract["id"], provider.headers, satisfied=True)
    assert r.status_code == 201, r.text
    assert r.json()["rated_id"] == recipient.id
    assert r.json()["rated_role"] == "recipient"

    got = w.get(f"/v1/contracts/{contract['id']}", recipient).json()
    assert len(got["ratings"]) == 4  # the three above and the charge's own payment rating

    # Each rating weighs what was paid and its rater's standing (one payment, two hours old).
    as_provider = reputation(w, recipient, provider.id, "provider")
    assert as_provider["count"] == 2
    assert as_provider["positive"] == pytest.approx(weight(), abs=1e-4)
    assert as_provider["negative"] == pytest.approx(weight(), abs=1e-4)
    # The recipient as payer: the charge's own payment rating (1.0) and the provider's.
    as_recipient = reputation(w, provider, recipient.id, "recipient")
    assert as_recipient["count"] == 2
    assert as_recipient["positive"] == pytest.approx(1.0 + weight(), abs=1e-4)
    assert reputation(w, provider, recipient.id, "provider")["count"] == 0

    # The next auction shows both: the owner's provider reputation, the bidder's as payer.
    nxt = w.create_auction(provider)
    owner = w.auction(recipient, nxt["id"])["owner"]["reputation"]
    assert (owner["role"], owner["count"]) == ("provider", 2)
    assert owner["summary"] == "50% positive, 2 ratings in the last 12 months"
    listed = w.get("/v1/auctions?status=open", recipient).json()["items"]
    (item,) = [a for a in listed if a["id"] == nxt["id"]]
    assert item["owner"]["reputation"]["summary"] == owner["summary"]

    assert w.bid(recipient, nxt["id"], "11.00").status_code == 201
    (bid,) = w.auction(recipient, nxt["id"])["bids"]  # sealed: the bidder sees its own
    shown = bid["bidder"]["reputation"]
    assert (shown["role"], shown["count"]) == ("recipient", 2)
    assert shown["positive"] == pytest.approx(1.0 + weight(), abs=1e-4)
    assert shown["summary"] == "100% positive, 2 ratings in the last 12 months"


# -- who may rate ------------------------------------------------------------------------------


def test_a_stranger_is_told_the_contract_does_not_exist(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    (contract,) = won_contracts(world, *parties)
    stranger = world.account("Stranger", "recipient", "provider")
    e = error(rate(world, contract["id"], stranger.headers, satisfied=False), 404)
    assert e["message"] == f"contract {contract['id']} not found"
    assert world.get(f"/v1/contracts/{contract['id']}", parties[0]).json()["ratings"] == []


def test_rating_twice_is_refused(world: World, parties: tuple[Actor, Actor]) -> None:
    provider, recipient = parties
    (contract,) = won_contracts(world, provider, recipient)
    assert rate(world, contract["id"], recipient.headers, satisfied=True).status_code == 201
    e = error(rate(world, contract["id"], recipient.headers, satisfied=False), 409)
    assert e["message"] == "you have already rated this contract"
    assert reputation(world, recipient, provider.id, "provider")["negative"] == 0.0


def test_ratings_open_when_delivery_starts(world: World, parties: tuple[Actor, Actor]) -> None:
    w = world
    provider, recipient = parties
    start = w.clock.now() + timedelta(days=2)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(days=1)).isoformat(),
    }
    (contract,) = won_contracts(w, provider, recipient, paid=True, **window)
    assert contract["status"] == "awarded"
    e = error(rate(w, contract["id"], recipient.headers, satisfied=True), 409)
    assert e["message"] == "ratings open when delivery starts"

    w.clock.set(start + timedelta(minutes=1))
    # Still closed until the scheduler starts the contract.
    assert rate(w, contract["id"], recipient.headers, satisfied=True).status_code == 409
    started = start_due(w.services.bus)
    assert [c.id for c in started] == [contract["id"]]
    assert rate(w, contract["id"], recipient.headers, satisfied=True).status_code == 201
    assert reputation(w, recipient, provider.id, "provider")["count"] == 1


def test_ratings_close_after_the_rating_window(world: World, parties: tuple[Actor, Actor]) -> None:
    provider, recipient = parties
    (contract,) = won_contracts(world, provider, recipient)
    world.clock.advance(91 * 86400)
    e = error(rate(world, contract["id"], recipient.headers, satisfied=True), 409)
    assert e["message"].startswith("ratings for this contract closed on ")
    assert "90 days after delivery started" in e["message"]
    e = error(rate(world, contract["id"], provider.headers, satisfied=True), 409)
    assert reputation(world, provider, provider.id, "provider")["count"] == 0


def test_a_device_of_another_recipient_cannot_rate(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient)
    other = w.account("Other clinic", "recipient")
    theirs = device(w, other)
    e = error(rate(w, contract["id"], bearer(theirs["token"]), satisfied=False), 404)
    assert e["message"] == f"contract {contract['id']} not found"
    # Nor can the recipient make another recipient's device a member.
    r = w.post(
        f"/v1/contracts/{contract['id']}/members", recipient, json={"device_id": theirs["id"]}
    )
    assert error(r, 404)["message"] == f"device {theirs['id']} not found"


def test_a_device_must_be_a_member_to_rate(world: World, parties: tuple[Actor, Actor]) -> None:
    provider, recipient = parties
    (contract,) = won_contracts(world, provider, recipient)
    phone = device(world, recipient)
    e = error(rate(world, contract["id"], bearer(phone["token"]), satisfied=True), 403)
    assert e["message"] == "this device is not a member of the contract"
    assert reputation(world, recipient, provider.id, "provider")["count"] == 0


def test_a_wrong_device_token_is_unauthenticated(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    (contract,) = won_contracts(world, *parties)
    r = rate(world, contract["id"], bearer("cxd_not-a-token-anyone-was-given"), satisfied=True)
    assert error(r, 401)["message"] == "a valid device token is required"


def test_a_device_token_only_rates(world: World, parties: tuple[Actor, Actor]) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient)
    phone = device(w, recipient)
    as_phone = bearer(phone["token"])
    calls = [
        ("GET", "/v1/accounts/me", None),
        ("GET", "/v1/contracts", None),
        ("GET", "/v1/auctions", None),
        ("POST", "/v1/devices", {"name": "Sneaky", "user": "Mallory"}),
        ("POST", f"/v1/contracts/{contract['id']}/members", {"device_id": phone["id"]}),
        ("POST", "/v1/auctions", w.auction_body()),
    ]
    for method, path, body in calls:
        r = w.client.request(method, path, json=body, headers=as_phone)
        e = error(r, 403)
        assert "device token may only rate" in e["message"], (method, path)
    assert w.get(f"/v1/contracts/{contract['id']}", recipient).json()["members"] == []
    # A device sees a contract only once it is a member of it.
    r = w.client.get(f"/v1/contracts/{contract['id']}", headers=as_phone)
    assert error(r, 404)["message"] == f"contract {contract['id']} not found"
    r = w.post(
        f"/v1/contracts/{contract['id']}/members", recipient, json={"device_id": phone["id"]}
    )
    assert r.status_code == 201, r.text
    seen = w.client.get(f"/v1/contracts/{contract['id']}", headers=as_phone)
    assert seen.status_code == 200, seen.text
    assert [m["device"] for m in seen.json()["members"]] == [phone["id"]]


def test_a_second_account_of_the_provider_cannot_bid_on_its_auction(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    w = world
    provider, _ = parties
    r = w.post("/v1/accounts", provider, json={"name": "Carrier buyer", "roles": ["recipient"]})
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["owner_id"] != second["id"]
    auction = w.create_auction(provider)
    r = w.client.post(
        f"/v1/auctions/{auction['id']}/bids",
        json={"amount": "10.00"},
        headers=bearer(second["token"]),
    )
    e = error(r, 403)
    assert e["message"] == "you cannot bid on an auction of an account of the same owner"
    # An account opened without a token is a stranger, and may bid.
    stranger = w.account("Clinic two", "recipient")
    assert w.bid(stranger, auction["id"], "10.00").status_code == 201
    assert w.auction(provider, auction["id"])["bid_count"] == 1


# -- one counterparty cannot flood a reputation ------------------------------------------------


def test_one_counterparty_is_capped_and_another_adds_its_own_weight(
    world: World, parties: tuple[Actor, Actor]
) -> None:
    w = world
    provider, recipient = parties
    contracts = won_contracts(w, provider, recipient, n=10, paid=True)
    for c in contracts:
        r = rate(w, c["id"], recipient.headers, satisfied=True, score=5)
        assert r.status_code == 201, r.text
    rep = reputation(w, recipient, provider.id, "provider")
    # Ten paid ratings of a rater with ten payments would weigh more than the cap allows.
    assert 10 * weight(payments=10) > PAIR_CAP
    assert rep["count"] == 10
    assert rep["positive"] <= PAIR_CAP
    assert rep["positive"] == pytest.approx(PAIR_CAP)

    second = w.account("Second clinic", "recipient")
    (c,) = won_contracts(w, provider, second, paid=True)
    assert rate(w, c["id"], second.headers, satisfied=True).status_code == 201
    rep = reputation(w, second, provider.id, "provider")
    assert rep["count"] == 11
    # The capped weight has decayed for the two hours the second auction took; the second
    # counterparty adds its own rating's weight in full.
    assert rep["positive"] == pytest.approx(PAIR_CAP + weight(), abs=0.01)
    assert rep["positive"] > PAIR_CAP + weight() - 0.01


# -- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"satisfied": True, "score": 0}, "score"),
        ({"satisfied": True, "score": 6}, "score"),
        ({"satisfied": True, "score": "5"}, "score"),
        ({"satisfied": True, "score": 4.5}, "score"),
        ({"satisfied": "yes"}, "satisfied"),
        ({"satisfied": 1}, "satisfied"),
        ({"satisfied": None}, "satisfied"),
        ({}, "satisfied"),
        ({"satisfied": True, "comment": "x" * 1001}, "comment"),
        ({"satisfied": True, "comment": 7}, "comment"),
    ],
)
def test_bad_ratings_name_the_field(api_world: World, body: dict[str, Any], field: str) -> None:
    w = api_world
    provider = w.account("Carrier", "provider")
    recipient = w.account("Clinic", "recipient")
    (contract,) = won_contracts(w, provider, recipient)
    e = error(rate(w, contract["id"], recipient.headers, **body), 422)
    assert e["field"] == field
    assert e["message"].startswith(field)
    assert w.get(f"/v1/contracts/{contract['id']}", recipient).json()["ratings"] == []


def test_a_comment_of_exactly_the_limit_is_kept(api_world: World) -> None:
    w = api_world
    provider = w.account("Carrier", "provider")
    recipient = w.account("Clinic", "recipient")
    (contract,) = won_contracts(w, provider, recipient)
    r = rate(w, contract["id"], recipient.headers, satisfied=True, comment="x" * 1000)
    assert r.status_code == 201, r.text
    assert len(r.json()["comment"]) == 1000


# -- members -----------------------------------------------------------------------------------


def test_members_up_to_the_limit_stored_as_e164(world: World, parties: tuple[Actor, Actor]) -> None:
    w = world
    provider, recipient = parties
    (contract,) = won_contracts(w, provider, recipient, max_members=2)
    path = f"/v1/contracts/{contract['id']}/members"
    r = w.post(path, recipient, json={"phone_number": "+1 415 555 0123"})
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "+14155550123"
    e = error(w.post(path, recipient, json={"phone_number": "+14155550123"}), 409)
    assert "already a member" in e["message"]
    e = error(w.post(path, recipient, json={"phone_number": "555-not-a-number"}), 422)
    assert e["field"] == "phone_number"
    assert "'555-not-a-number'" in e["message"]
    assert w.post(path, recipient, json={"phone_number": "+44 20 7946 0958"}).status_code == 201
    e = error(w.post(path, recipient, json={"phone_number": "+33 1 42 68 53 00"}), 409)
    assert e["message"] == "this contract is shared by at most 2 member(s); it has 2"
    e = error(w.post(path, provider, json={"phone_number": "+33 1 42 68 53 00"}), 403)
    members = w.get(f"/v1/contracts/{contract['id']}", recipient).json()["members"]
    assert sorted(m["phone"] for m in members) == ["+14155550123", "+442079460958"]
