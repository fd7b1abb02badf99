"""Who may call what: the API's authorization as one table of endpoint x caller -> status.

Callers are anonymous (no token), a wrong token, the operator, and, relative to the auction the
call is about, its owner, a bidder on it, a rival bidder on it, and an unrelated provider and
recipient. In a forward auction the owner is a provider and the bidders recipients; in a reverse
auction the other way round. Every denied call is asserted, and a denied call changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

CALLERS = ("anon", "bad", "provider", "recipient", "owner", "bidder", "rival", "operator")


@dataclass
class Scene:
    """A small market: accounts, auctions in each state, and a contract."""

    world: Any
    actors: dict[str, dict[str, Any]]
    ids: dict[str, str]

    def caller(self, name: str, side: str) -> dict[str, str]:
        if name == "anon":
            return {}
        if name == "bad":
            return {"Authorization": "Bearer cx_not-a-token-anyone-was-given"}
        if name == "operator":
            return dict(self.world.operator.headers)
        return dict(self.actors[side][name].headers)


@pytest.fixture
def scene(api_world: Any) -> Scene:
    w = api_world
    seller = w.account("Seller", "provider")
    alice = w.account("Alice", "recipient")
    bob = w.account("Bob", "recipient")
    carol = w.account("Carol", "recipient")
    buyer = w.account("Buyer", "recipient")
    p1 = w.account("Provider One", "provider")
    p2 = w.account("Provider Two", "provider")
    dave = w.account("Dave", "provider")
    later = {"closes_at": (w.clock.now().replace(hour=14)).isoformat()}
    soon = {"closes_at": (w.clock.now().replace(minute=10)).isoformat()}

    def bid(who: Any, auction: dict[str, Any], amount: str, **kw: Any) -> None:
        r = w.bid(who, auction["id"], amount, **kw)
        assert r.status_code == 201, r.text

    forward = w.create_auction(seller, **later)
    bid(alice, forward, "10.00")
    bid(bob, forward, "8.00")
    fresh = w.create_auction(seller, **later)
    reverse = w.create_auction(buyer, "reverse", **later)
    bid(p1, reverse, "50.00")
    bid(p2, reverse, "55.00")
    english = w.create_auction(seller, format="english", min_increment="1.00", **later)
    bid(alice, english, "10.00", max_amount="40.00")
    bid(bob, english, "12.00", max_amount="20.00")
    due = w.create_auction(seller, **soon)
    bid(alice, due, "9.00")
    won = w.create_auction(seller, **later)
    bid(alice, won, "11.00")
    bid(bob, won, "7.00")
    closed = w.post(f"/v1/auctions/{won['id']}/close", w.operator, json={"reason": "test"})
    assert closed.status_code == 200, closed.text
    contract = closed.json()["outcome"]["winners"][0]["contract_id"]
    w.clock.advance(20 * 60)  # ``due`` is now past its close time; the others are not
    return Scene(
        world=w,
        actors={
            "forward": {
                "owner": seller,
                "bidder": alice,
                "rival": bob,
                "provider": dave,
                "recipient": carol,
            },
            "reverse": {
                "owner": buyer,
                "bidder": p1,
                "rival": p2,
                "provider": dave,
                "recipient": carol,
            },
        },
        ids={
            "forward": forward["id"],
            "fresh": fresh["id"],
            "reverse": reverse["id"],
            "english": english["id"],
            "due": due["id"],
            "won": won["id"],
            "contract": contract,
            "owner": seller.id,
        },
    )


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with {forward}, {reverse}, ... placeholders from Scene.ids
    side: str = "forward"
    body: Any = None
    watch: str | None = None  # the auction a denied call must leave as it was


def _forward_body(scene: Scene) -> dict[str, Any]:
    return dict(scene.world.auction_body("forward"))


def _reverse_body(scene: Scene) -> dict[str, Any]:
    return dict(scene.world.auction_body("reverse"))


# endpoint -> (the call, the expected status of each caller)
TABLE: dict[str, tuple[Call, str]] = {
    "health": (
        Call("GET", "/v1/health"),
        "anon=200 bad=200 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "open an account": (
        Call("POST", "/v1/accounts", body={"name": "Newcomer", "roles": ["recipient"]}),
        # a token is optional here (with one, the account joins the caller's owner); a bad one
        # is refused rather than ignored
        "anon=201 bad=401 provider=201 recipient=201 owner=201 bidder=201 rival=201 operator=201",
    ),
    "my account": (
        Call("GET", "/v1/accounts/me"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "an account": (
        Call("GET", "/v1/accounts/{owner}"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "create a forward auction": (
        Call("POST", "/v1/auctions", body=_forward_body),
        "anon=401 bad=401 provider=201 recipient=403 owner=201 bidder=403 rival=403 operator=403",
    ),
    "create a reverse auction": (
        Call("POST", "/v1/auctions", side="reverse", body=_reverse_body),
        "anon=401 bad=401 provider=403 recipient=201 owner=201 bidder=403 rival=403 operator=403",
    ),
    "list auctions": (
        Call("GET", "/v1/auctions?status=open"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "read a sealed auction": (
        Call("GET", "/v1/auctions/{forward}"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "bid on a forward auction": (
        Call("POST", "/v1/auctions/{forward}/bids", body={"amount": "12.00"}, watch="forward"),
        "anon=401 bad=401 provider=403 recipient=201 owner=403 bidder=201 rival=201 operator=403",
    ),
    "bid on a reverse auction": (
        Call(
            "POST",
            "/v1/auctions/{reverse}/bids",
            side="reverse",
            body={"amount": "40.00"},
            watch="reverse",
        ),
        "anon=401 bad=401 provider=201 recipient=403 owner=403 bidder=201 rival=201 operator=403",
    ),
    "bid on an english auction": (
        Call(
            "POST",
            "/v1/auctions/{english}/bids",
            body={"amount": "30.00", "max_amount": "45.00"},
            watch="english",
        ),
        "anon=401 bad=401 provider=403 recipient=201 owner=403 bidder=201 rival=201 operator=403",
    ),
    "close before the close time": (
        Call("POST", "/v1/auctions/{forward}/close", body={"reason": "r"}, watch="forward"),
        "anon=401 bad=401 provider=403 recipient=403 owner=409 bidder=403 rival=403 operator=200",
    ),
    "close after the close time": (
        Call("POST", "/v1/auctions/{due}/close", watch="due"),
        "anon=401 bad=401 provider=403 recipient=403 owner=200 bidder=403 rival=403 operator=200",
    ),
    "close a closed auction": (
        Call("POST", "/v1/auctions/{won}/close", watch="won"),
        "anon=401 bad=401 provider=403 recipient=403 owner=200 bidder=403 rival=403 operator=200",
    ),
    "cancel an auction without bids": (
        Call("POST", "/v1/auctions/{fresh}/cancel", body={"reason": "r"}, watch="fresh"),
        "anon=401 bad=401 provider=403 recipient=403 owner=200 bidder=403 rival=403 operator=200",
    ),
    "cancel an auction with bids": (
        Call("POST", "/v1/auctions/{forward}/cancel", body={"reason": "r"}, watch="forward"),
        "anon=401 bad=401 provider=403 recipient=403 owner=409 bidder=403 rival=403 operator=200",
    ),
    "cancel a reverse auction with bids": (
        Call(
            "POST",
            "/v1/auctions/{reverse}/cancel",
            side="reverse",
            body={"reason": "r"},
            watch="reverse",
        ),
        "anon=401 bad=401 provider=403 recipient=403 owner=409 bidder=403 rival=403 operator=200",
    ),
    "my contracts": (
        Call("GET", "/v1/contracts"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "a contract": (
        Call("GET", "/v1/contracts/{contract}"),
        "anon=401 bad=401 provider=404 recipient=404 owner=200 bidder=200 rival=404 operator=200",
    ),
    "find auctions": (
        Call("GET", "/v1/auctions?service=voice&sort=closing&limit=2"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "watch an auction": (
        Call("PUT", "/v1/auctions/{forward}/watch", watch="forward"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "my watchlist": (
        Call("GET", "/v1/watchlist"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "my notifications": (
        Call("GET", "/v1/notifications?unread=true"),
        "anon=401 bad=401 provider=200 recipient=200 owner=200 bidder=200 rival=200 operator=200",
    ),
    "create a webhook": (
        Call(
            "POST",
            "/v1/webhooks",
            body={"url": "https://93.184.216.34/in", "events": ["bid.outbid"]},
        ),
        "anon=401 bad=401 provider=201 recipient=201 owner=201 bidder=201 rival=201 operator=201",
    ),
}


def _cases() -> list[Any]:
    cases = []
    for endpoint, (call, spec) in TABLE.items():
        expected = dict(pair.split("=") for pair in spec.split())
        assert tuple(expected) == CALLERS, endpoint
        for caller, status in expected.items():
            cases.append(pytest.param(call, caller, int(status), id=f"{endpoint}-{caller}"))
    return cases


def _state(scene: Scene, auction_key: str) -> dict[str, Any]:
    seen = scene.world.auction(scene.world.operator, scene.ids[auction_key])
    return {k: seen.get(k) for k in ("status", "bid_count", "closes_at", "outcome")}


@pytest.mark.parametrize(("call", "caller", "status"), _cases())
def test_authorization(scene: Scene, call: Call, caller: str, status: int) -> None:
    w = scene.world
    path = call.path.format(**scene.ids)
    body = call.body(scene) if callable(call.body) else call.body
    before = _state(scene, call.watch) if call.watch else None
    headers = scene.caller(caller, call.side)
    r = w.client.request(call.method, path, headers=headers, json=body)
    assert r.status_code == status, (caller, r.text)
    if status >= 400:
        err = r.json()["error"]
        assert err["code"] and err["message"]
        if status == 401:
            assert r.headers.get("www-authenticate") == "Bearer"
        if call.watch:
            assert _state(scene, call.watch) == before, "a denied call changed the auction"
        assert set(r.json()) == {"error"}, "a refusal reveals nothing else"


def test_a_denied_contract_looks_like_a_missing_one(scene: Scene) -> None:
    """A contract someone else holds is answered exactly like one that does not exist."""
    w = scene.world
    stranger = scene.caller("rival", "forward")
    real = w.client.get(f"/v1/contracts/{scene.ids['contract']}", headers=stranger)
    fake = w.client.get("/v1/contracts/con_00000000000000000000", headers=stranger)
    assert real.status_code == fake.status_code == 404
    assert real.json()["error"]["code"] == fake.json()["error"]["code"]


# -- what each caller may see of an auction ---------------------------------------------------


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in ("anon", "bad")])
def test_nobody_sees_another_bidders_sealed_bid(scene: Scene, caller: str) -> None:
    w = scene.world
    r = w.client.get(
        f"/v1/auctions/{scene.ids['forward']}", headers=scene.caller(caller, "forward")
    )
    assert r.status_code == 200
    seen = r.json()
    me = scene.actors["forward"].get(caller)
    mine = [me.id] if me is not None and caller in ("bidder", "rival") else []
    assert [b["bidder"]["id"] for b in seen["bids"]] == mine
    assert seen["bid_count"] == 2
    others = {"bidder": "10.00", "rival": "8.00"}
    for who, amount in others.items():
        if who != caller:
            assert amount not in r.text, f"{caller} sees {who}'s sealed amount"


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in ("anon", "bad")])
def test_nobody_sees_another_bidders_proxy_limit(scene: Scene, caller: str) -> None:
    w = scene.world
    r = w.client.get(
        f"/v1/auctions/{scene.ids['english']}", headers=scene.caller(caller, "forward")
    )
    assert r.status_code == 200
    seen = r.json()
    # English bids are public, proxy limits are not: Alice leads with a limit of 40.00 that
    # nobody else may learn (Bob's 20.00 was used up, so it shows as his last bid).
    assert seen["bid_count"] >= 2
    limits = {"bidder": "40.00", "rival": "20.00"}
    actors = scene.actors["forward"]
    shown = [(b["bidder"]["id"], b["max_amount"]) for b in seen["bids"] if "max_amount" in b]
    if caller in limits:
        assert shown == [(actors[caller].id, limits[caller])]
    else:
        assert shown == []
    if caller != "bidder":
        assert "40.00" not in r.text, f"{caller} sees the leader's proxy limit"


def test_an_account_cannot_bid_on_its_own_auction_even_with_both_roles(api_world: Any) -> None:
    w = api_world
    both = w.account("Both Ways", "provider", "recipient")
    for direction in ("forward", "reverse"):
        a = w.create_auction(both, direction)
        r = w.bid(both, a["id"], "10.00")
        assert r.status_code == 403, r.text
        assert "own auction" in r.json()["error"]["message"]
        assert w.auction(both, a["id"])["bid_count"] == 0
