"""Trust and safety through the HTTP API, on every storage (memory, SQLite, PostgreSQL): names
that cannot impersonate, suspension, token rotation, device revocation, hidden ratings,
refunds and login throttling, each refused to anyone but who may do it.

Each test here was written against the exchange as the security probe found it, and failed
there: a look-alike name opened a second account, a suspended account did not exist, a leaked
token and a lost phone's token could not be revoked, and 210 wrong passwords were all 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiActor as Actor
from api_support import ApiWorld as World

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.services.commands import Caller, ChargeDue
from commex.services.queries import ShowContract
from commex.settings import Settings

VISA = "4242424242424242"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, api_world: World, api_clock: ManualClock, tmp_path: Path
) -> Iterator[World]:
    """The API over each storage, with reputations read from the rating tallies."""
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


def error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json()["error"])
    if code is not None:
        assert body["code"] == code
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def paid_contract(w: World, provider: Actor, recipient: Actor, price: str = "40.00") -> str:
    """A forward auction of ``provider`` won by ``recipient`` at ``price``, charged to the
    recipient's card; the contract's id."""
    r = w.post(
        "/v1/payment-methods",
        recipient,
        json={"number": VISA, "exp_month": 12, "exp_year": w.clock.now().year + 2, "cvc": "123"},
    )
    assert r.status_code == 201, r.text
    auction = w.create_auction(provider)
    assert w.bid(recipient, auction["id"], price).status_code == 201
    w.clock.advance(2 * 3600)
    closed = w.post(f"/v1/auctions/{auction['id']}/close", provider).json()
    w.services.bus.handle(ChargeDue())
    return str(closed["outcome"]["winners"][0]["contract_id"])


# -- impersonation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "look_alike",
    [
        "Northwind Carrier",  # exactly
        "northwind  CARRIER",  # case and spacing
        "\uff2eorthwind Carrier",  # fullwidth N
        "Northw\u0456nd Carrier",  # Cyrillic i
        "N\u043erthwind Carrier",  # Cyrillic o
        "N0rthwind Carrier",  # digit zero
    ],
)
def test_a_name_that_reads_like_a_taken_one_is_refused_and_leaves_nothing(
    world: World, look_alike: str
) -> None:
    w = world
    w.account("Northwind Carrier", "provider")  # an established provider, no web login
    r = w.client.post("/v1/accounts", json={"name": look_alike, "roles": ["provider"]})
    assert "is taken" in error(r, 409, "conflict")["message"]
    r = w.client.post(
        "/v1/accounts",
        json={"name": look_alike, "roles": ["recipient"], "password": "a long passphrase"},
    )
    error(r, 409, "conflict")
    found = w.get("/v1/accounts", w.operator, params={"q": "rthwind"}).json()["items"]
    assert [a["name"] for a in found] == ["Northwind Carrier"]


def test_a_different_name_is_still_welcome(world: World) -> None:
    world.account("Northwind Carrier", "provider")
    assert world.account("Nordwind Carrier", "provider").name == "Nordwind Carrier"


def test_pages_show_what_stands_behind_a_name(world: World) -> None:
    """The impersonation finding's second half: a name that is allowed but reads alike shows,
    beside it, how new the account is and that it has paid nothing through the exchange."""
    w = world
    start = w.clock.now()
    established = w.account("Northwind Carrier", "provider")
    family = w.account("Harbour Family", "recipient")
    contract_id = paid_contract(w, established, family)
    w.clock.advance(timedelta(days=40).total_seconds())
    newcomer = w.account("Northwind Carriers", "provider")
    theirs, mine = w.create_auction(established), w.create_auction(newcomer)

    page = w.client.get(f"/auctions/{theirs['id']}").text
    assert "account since 2026-03-01 · 1 verified payment<" in page
    page = w.client.get(f"/auctions/{mine['id']}").text
    assert "account since 2026-04-10 · no verified payment yet" in page
    view = w.services.bus.handle(ShowContract(contract_id, Caller(family.id)))
    assert (view.provider.since, view.provider.payments) == (start, 1)
    assert (view.recipient.payments, view.recipient.name) == (1, "Harbour Family")


# -- suspension ----------------------------------------------------------------------------------


def test_the_operator_suspends_and_reinstates_an_account(world: World) -> None:
    w = world
    seller = w.account("Seller", "provider")
    bidder = w.account("Bidder", "recipient")
    other = w.account("Other bidder", "recipient")
    sealed = w.create_auction(seller)
    english = w.create_auction(seller, format="english", min_increment="1.00")
    assert w.bid(bidder, sealed["id"], "30.00").status_code == 201
    assert w.bid(other, sealed["id"], "20.00").status_code == 201
    assert w.bid(other, english["id"], "10.00").status_code == 201
    assert w.bid(bidder, english["id"], "12.00", max_amount="50.00").status_code == 201

    path = f"/v1/accounts/{bidder.id}/suspension"
    error(w.post(path, other, json={"reason": "because"}), 403, "forbidden")
    error(w.post(path, w.operator, json={}), 422)
    r = w.post(path, w.operator, json={"reason": "shill bidding"})
    assert r.status_code == 200, r.text
    assert r.json()["suspended"] is True
    assert r.json()["suspension_reason"] == "shill bidding"

    # Every call of the suspended account is refused, and its open bids are gone.
    body = error(w.get("/v1/accounts/me", bidder), 403, "account_suspended")
    assert "shill bidding" in body["message"]
    error(w.bid(bidder, sealed["id"], "31.00"), 403, "account_suspended")
    error(w.post("/v1/auctions", bidder, json=w.auction_body("reverse")), 403, "account_suspended")
    assert w.auction(seller, sealed["id"])["bid_count"] == 1
    # The english auction falls back to the other bidder's own standing bid.
    assert w.auction(other, english["id"])["standing_price"] == "10.00"
    w.clock.advance(2 * 3600)
    closed = w.post(f"/v1/auctions/{sealed['id']}/close", seller).json()
    assert [x["bidder_id"] for x in closed["outcome"]["winners"]] == [other.id]
    closed = w.post(f"/v1/auctions/{english['id']}/close", seller).json()
    assert [x["bidder_id"] for x in closed["outcome"]["winners"]] == [other.id]

    error(w.client.delete(path, headers=other.headers), 403, "forbidden")
    r = w.client.delete(path, headers=w.operator.headers, params={"reason": "appeal upheld"})
    assert r.status_code == 200, r.text
    assert r.json()["suspended"] is False
    assert w.get("/v1/accounts/me", bidder).status_code == 200


def test_the_operator_cannot_be_suspended_and_strangers_are_not_found(world: World) -> None:
    w = world
    error(w.post(f"/v1/accounts/{w.operator.id}/suspension", w.operator, json={"reason": "x"}),
          403)  # fmt: skip
    error(w.post("/v1/accounts/acc_nobody/suspension", w.operator, json={"reason": "x"}), 404)


def test_only_the_operator_finds_accounts(world: World) -> None:
    w = world
    someone = w.account("Harbour Family", "recipient")
    error(w.get("/v1/accounts", someone, params={"q": "Harbour"}), 403)
    found = w.get("/v1/accounts", w.operator, params={"q": "harbour"}).json()["items"]
    assert [a["id"] for a in found] == [someone.id]
    assert found[0]["created_at"]


# -- tokens and devices --------------------------------------------------------------------------


def test_a_rotated_token_stops_working_at_once(world: World) -> None:
    w = world
    me = w.account("Leaky", "recipient")
    r = w.post("/v1/accounts/me/token", me)
    assert r.status_code == 200, r.text
    fresh = r.json()["token"]
    assert fresh != me.token and fresh.startswith("cx_")
    error(w.get("/v1/accounts/me", me), 401, "unauthenticated")
    assert w.client.get("/v1/accounts/me", headers=bearer(fresh)).json()["id"] == me.id


def test_a_deregistered_device_token_stops_working_at_once(world: World) -> None:
    w = world
    seller = w.account("Seller", "provider")
    owner = w.account("Family", "recipient")
    stranger = w.account("Stranger", "recipient")
    contract_id = paid_contract(w, seller, owner)
    r = w.post("/v1/devices", owner, json={"name": "Lost phone", "user": "Ann"})
    phone = r.json()
    r = w.post(f"/v1/contracts/{contract_id}/members", owner, json={"device_id": phone["id"]})
    member = r.json()["id"]
    report = {"member_id": member, "seconds": 10}
    used = w.client.post(
        f"/v1/contracts/{contract_id}/usage", json=report, headers=bearer(phone["token"])
    )
    assert used.status_code == 201, used.text

    error(w.client.delete(f"/v1/devices/{phone['id']}", headers=stranger.headers), 404)
    r = w.client.delete(f"/v1/devices/{phone['id']}", headers=owner.headers)
    assert r.status_code == 200, r.text
    again = w.client.post(
        f"/v1/contracts/{contract_id}/usage", json=report, headers=bearer(phone["token"])
    )
    error(again, 401, "unauthenticated")
    error(w.client.delete(f"/v1/devices/{phone['id']}", headers=owner.headers), 404)


# -- ratings and refunds -------------------------------------------------------------------------


def test_the_operator_hides_a_rating_and_it_leaves_the_reputation(world: World) -> None:
    w = world
    seller = w.account("Seller", "provider")
    buyer = w.account("Buyer", "recipient")
    contract_id = paid_contract(w, seller, buyer)
    r = w.post(f"/v1/contracts/{contract_id}/ratings", buyer, json={"satisfied": False})
    assert r.status_code == 201, r.text
    rating_id = r.json()["id"]
    before = w.get(f"/v1/accounts/{seller.id}", buyer).json()["reputation"]["as_provider"]
    assert before["negative"] > 0 and before["count"] == 1

    path = f"/v1/ratings/{rating_id}/hide"
    error(w.post(path, seller, json={"reason": "I do not like it"}), 403)
    error(w.post(path, w.operator, json={"reason": ""}), 422)
    r = w.post(path, w.operator, json={"reason": "abusive comment"})
    assert r.status_code == 200, r.text
    assert (r.json()["hidden"], r.json()["hidden_reason"]) == (True, "abusive comment")
    after = w.get(f"/v1/accounts/{seller.id}", buyer).json()["reputation"]["as_provider"]
    assert (after["negative"], after["count"]) == (0.0, 0)
    error(w.post(path, w.operator, json={"reason": "again"}), 409)


def test_the_operator_refunds_part_then_the_rest_of_a_charge(world: World) -> None:
    w = world
    seller = w.account("Seller", "provider")
    buyer = w.account("Buyer", "recipient")
    contract_id = paid_contract(w, seller, buyer)
    charges = w.get(f"/v1/contracts/{contract_id}/charges", buyer).json()["charges"]
    (charge,) = charges
    assert charge["status"] == "succeeded"
    path = f"/v1/charges/{charge['id']}/refunds"

    error(w.post(path, seller, json={"amount": "5.00", "reason": "goodwill"}), 403)
    error(w.post(path, w.operator, json={"amount": "5.00"}), 422)
    r = w.post(path, w.operator, json={"amount": "15.00", "reason": "an hour of outage"})
    assert r.status_code == 201, r.text
    assert (r.json()["amount"], r.json()["payout"]) == ("15.00", "-15.00")
    assert r.json()["gateway_refund_id"]
    body = error(w.post(path, w.operator, json={"amount": "25.01", "reason": "more"}), 422)
    assert body["field"] == "amount" and "25.00" in body["message"]
    w.clock.advance(60)
    r = w.post(path, w.operator, json={"amount": "25.00", "reason": "the rest"})
    assert r.status_code == 201, r.text
    payouts = w.get(f"/v1/contracts/{contract_id}/charges", seller).json()["payouts"]
    assert [p["amount"] for p in payouts] == ["40.00", "-15.00", "-25.00"]


# -- login throttling ----------------------------------------------------------------------------


def test_wrong_passwords_are_throttled_per_name_exponentially(world: World) -> None:
    w = world
    w.account("Careful", "recipient", password="the right passphrase")

    def login(password: str) -> Any:  # the web login form, as a browser posts it
        data = {"name": "Careful", "password": password}
        return w.client.post("/login", data=data, follow_redirects=False)

    statuses = [login(f"wrong guess {i}").status_code for i in range(5)]
    assert statuses == [401] * 5
    blocked = login("wrong guess 6")
    assert blocked.status_code == 401  # the sixth is counted, then the name waits
    r = login("the right passphrase")  # even the right password waits
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1")
    assert "too many wrong passwords" in r.text
    w.clock.advance(1)
    assert login("wrong guess 7").status_code == 401
    r = login("the right passphrase")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "2")  # the block doubled
    w.clock.advance(2)
    assert login("the right passphrase").status_code == 303
    # A success forgets the name's failures.
    assert [login(f"again {i}").status_code for i in range(5)] == [401] * 5


def test_signups_from_one_address_are_throttled(world: World) -> None:
    w = world
    statuses = [
        w.client.post("/v1/accounts", json={"name": f"Throwaway {i}", "roles": ["recipient"]})
        for i in range(12)
    ]
    assert [r.status_code for r in statuses[:10]] == [201] * 10
    assert statuses[10].status_code == 201  # counted, and the address now waits
    error(statuses[11], 429, "too_many_requests")
    w.clock.advance(timedelta(hours=2).total_seconds())
    r = w.client.post("/v1/accounts", json={"name": "Patient", "roles": ["recipient"]})
    assert r.status_code == 201


def test_card_saves_are_throttled_so_stolen_cards_cannot_be_tried(world: World) -> None:
    w = world
    thief = w.account("Thief", "recipient")
    declined = "4000000000000002"
    year = w.clock.now().year + 2
    answers = [
        w.post(
            "/v1/payment-methods",
            thief,
            json={"number": declined, "exp_month": 12, "exp_year": year, "cvc": "123"},
        )
        for _ in range(7)
    ]
    assert all(a.status_code != 429 for a in answers[:6])
    error(answers[6], 429, "too_many_requests")
