"""Processing offers over the API: providers publish their node, steps and price; anyone with a
token finds offers by capability, best reputation first, then the lower price."""

from __future__ import annotations

from typing import Any

import pytest

from commex.domain.accounts import Role
from commex.domain.reputation import Reputation
from commex.domain.urls import Resolver

OFFER = {"node_url": "http://node.example.net:8765", "capabilities": ["transcode", "dtmf"]}
# What the names in these tests resolve to (the tests make no DNS queries).
DNS = {"node.example.net": ["203.0.114.7"], "localhost": ["127.0.0.1", "::1"]}
DNS["intranet.example.net"] = ["10.20.30.40"]


@pytest.fixture
def api_resolve() -> Resolver:
    return lambda host: DNS.get(host, [])


def put_offer(w: Any, who: Any, **fields: Any) -> Any:
    body = OFFER | {"price": "2.50", "currency": "EUR"} | fields
    return w.client.put("/v1/providers/me/offer", headers=who.headers, json=body)


def test_a_provider_publishes_and_replaces_its_offer(api_world: Any) -> None:
    w = api_world
    p = w.account("Media Co", "provider")
    first = put_offer(w, p)
    assert first.status_code == 200, first.text
    assert first.json()["capabilities"] == ["dtmf", "transcode"]
    assert first.json()["provider"]["reputation"]["summary"] == "no ratings yet"
    put_offer(w, p, capabilities=["gain"], price="1.00")
    assert w.get("/v1/providers?capability=transcode", p).json()["items"] == []
    (gain,) = w.get("/v1/providers?capability=gain", p).json()["items"]
    assert (gain["provider"]["name"], gain["price"]) == ("Media Co", "1.00")


def test_offers_rank_by_reputation_then_price(api_world: Any, api_reputations: Any) -> None:
    w = api_world
    trusted = w.account("Trusted", "provider")
    cheap = w.account("Cheap", "provider")
    dear = w.account("Dear", "provider")
    api_reputations.set(trusted.id, Role.PROVIDER, Reputation(positive=40, count=40))
    put_offer(w, trusted, price="9.00")
    put_offer(w, cheap, price="1.00")
    put_offer(w, dear, price="3.00")
    found = w.get("/v1/providers?capability=dtmf", dear).json()["items"]
    assert [o["provider"]["name"] for o in found] == ["Trusted", "Cheap", "Dear"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"node_url": "ftp://node"}, "node_url"),
        ({"node_url": "http://node example"}, "node_url"),
        ({"capabilities": ["Transcode!"]}, "capabilities"),
        ({"capabilities": []}, "capabilities"),
        ({"price": "-1.00"}, "price"),
        ({"price": "1.234"}, "price"),
        ({"price": 2.5}, "price"),
        ({"currency": "euro"}, "currency"),
    ],
)
def test_a_bad_offer_names_its_field(api_world: Any, fields: dict[str, Any], field: str) -> None:
    w = api_world
    r = put_offer(w, w.account("Media Co", "provider"), **fields)
    assert r.status_code == 422, r.text
    assert field in (r.json()["error"].get("field") or r.json()["error"]["message"])


def test_who_may_publish_and_look(api_world: Any) -> None:
    w = api_world
    recipient = w.account("Family", "recipient")
    assert put_offer(w, recipient).status_code == 403
    assert w.client.put("/v1/providers/me/offer", json=OFFER).status_code == 401
    assert w.client.get("/v1/providers?capability=gain").status_code == 401
    assert w.get("/v1/providers?capability=Bad Name", recipient).status_code == 422
    assert w.get("/v1/providers", recipient).status_code == 422


@pytest.mark.parametrize(
    ("node_url", "why"),
    [
        ("http://127.0.0.1:9911/steal", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://[fd00:ec2::254]/", "the cloud metadata address"),
        ("http://localhost:8765", "localhost resolves to a loopback address"),
        ("http://intranet.example.net:8765", "resolves to a private address"),
        ("http://192.168.1.1:8765", "a private address"),
        ("http://unknown.example.net:8765", "does not resolve"),
    ],
)
def test_a_node_inside_the_exchanges_network_is_refused(
    api_world: Any, node_url: str, why: str
) -> None:
    w = api_world
    p = w.account("Media Co", "provider")
    r = put_offer(w, p, node_url=node_url)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "node_url"
    assert why in error["message"] and "10.20.30.40" not in error["message"]
    assert w.get("/v1/providers?capability=dtmf", p).json()["items"] == []
