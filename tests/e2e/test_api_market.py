"""The marketplace over HTTP, on memory, SQLite and PostgreSQL: finding auctions with filters,
orders and cursors; the watchlist; the notification centre; webhooks and their delivery log;
and cursors on the other lists."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import ApiActor, ApiWorld


def items(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def error(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


@pytest.fixture
def market(api_any_world: ApiWorld) -> tuple[ApiWorld, dict[str, Any]]:
    w = api_any_world
    seller = w.account("Northwind", "provider")
    buyer = w.account("Harbour", "recipient")
    made = {"voice": w.create_auction(seller, title="Voice minutes, Lisbon")}
    w.clock.advance(1)  # each newer than the last
    made |= {
        "data": w.create_auction(
            seller,
            title="Fibre data, 30 days",
            format="english",
            min_increment="1.00",
            terms={"service": "data", "duration_s": 2_592_000, "min_rate_bps": 20_000_000},
        )
    }
    w.clock.advance(1)
    made["buy"] = w.create_auction(buyer, "reverse", title="Harbour needs VOICE", reserve="80.00")
    return w, {"seller": seller, "buyer": buyer, **made}


def test_filters_orders_and_cursors_find_what_people_ask_for(
    market: tuple[ApiWorld, dict[str, Any]],
) -> None:
    w, m = market
    me = w.account("Looker", "recipient")
    r = w.bid(me, m["data"]["id"], "25.00")
    assert r.status_code == 201
    ids = lambda q: [a["id"] for a in items(w.get(f"/v1/auctions?{q}", me))]  # noqa: E731
    assert ids("service=data") == [m["data"]["id"]]
    assert ids("q=voice&sort=newest") == [m["buy"]["id"], m["voice"]["id"]]
    assert ids(f"owner={m['buyer'].id}") == [m["buy"]["id"]]
    assert ids("direction=reverse&format=first-price") == [m["buy"]["id"]]
    assert ids("min_price=20&max_price=30") == [m["data"]["id"]]  # its standing price, 25.00
    assert ids("sort=-price") == [m["buy"]["id"], m["data"]["id"], m["voice"]["id"]]
    assert ids("min_rate_bps=10000000") == [m["data"]["id"]]
    assert ids("status=closed") == []
    first = w.get("/v1/auctions?sort=closing&limit=2", me).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = w.get(f"/v1/auctions?sort=closing&limit=2&cursor={first['next_cursor']}", me).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    # a cursor belongs to its order, and bad input names its parameter
    assert error(w.get(f"/v1/auctions?sort=price&cursor={first['next_cursor']}", me))["field"] == (
        "cursor"
    )
    for q, field in [
        ("sort=cheapest", "sort"),
        ("min_price=ten", "min_price"),
        ("min_price=30&max_price=20", "max_price"),
        ("window_from=tomorrow", "window_from"),
        ("min_rate_bps=-5", "min_rate_bps"),
        ("currency=eur", "currency"),
        ("limit=0", "query.limit"),
    ]:
        assert error(w.get(f"/v1/auctions?{q}", me))["field"] == field, q


def test_a_watchlist_is_followed_and_shown_on_every_list(
    market: tuple[ApiWorld, dict[str, Any]],
) -> None:
    w, m = market
    me = w.account("Watcher", "recipient")
    voice = m["voice"]["id"]
    assert w.client.put(f"/v1/auctions/{voice}/watch", headers=me.headers).json()["added"] is True
    again = w.client.put(f"/v1/auctions/{voice}/watch", headers=me.headers).json()
    assert again == {"auction_id": voice, "watched": True, "added": False}
    listed = {a["id"]: a["watched"] for a in items(w.get("/v1/auctions", me))}
    assert listed[voice] is True and listed[m["data"]["id"]] is False
    assert [a["id"] for a in items(w.get("/v1/watchlist", me))] == [voice]
    other = w.account("Other", "recipient")
    assert items(w.get("/v1/watchlist", other)) == []
    gone = w.client.delete(f"/v1/auctions/{voice}/watch", headers=me.headers).json()
    assert gone["removed"] is True and items(w.get("/v1/watchlist", me)) == []
    missing = w.client.put("/v1/auctions/auc_nope/watch", headers=me.headers)
    assert error(missing, 404)["code"] == "not_found"


def _outbid(w: ApiWorld, m: dict[str, Any]) -> tuple[ApiActor, ApiActor]:
    ann, bob = w.account("Ann", "recipient"), w.account("Bob", "recipient")
    for who, amount in ((ann, "10.00"), (bob, "12.00"), (ann, "14.00"), (bob, "16.00")):
        w.clock.advance(1)
        assert w.bid(who, m["data"]["id"], amount).status_code == 201
    return ann, bob


def test_the_notification_centre_lists_counts_and_marks_read(
    market: tuple[ApiWorld, dict[str, Any]],
) -> None:
    w, m = market
    ann, bob = _outbid(w, m)
    found = w.get("/v1/notifications", ann).json()
    assert found["unread"] == 2 and found["next_cursor"] is None
    newest = found["items"][0]
    assert (newest["type"], newest["data"]["price"], newest["read"]) == (
        "bid.outbid",
        "16.00",
        False,
    )
    assert newest["title"] == "You were outbid on “Fibre data, 30 days”"
    assert newest["link"] == f"/auctions/{m['data']['id']}"
    page = w.get("/v1/notifications?limit=1", ann).json()
    after = w.get(f"/v1/notifications?limit=1&cursor={page['next_cursor']}", ann).json()
    assert [page["items"][0]["id"], after["items"][0]["id"]] == [i["id"] for i in found["items"]]
    assert w.get("/v1/notifications?type=auction.won", ann).json()["items"] == []
    assert error(w.get("/v1/notifications?type=bid.made", ann))["field"] == "type"
    marked = w.post("/v1/notifications/read", ann, json={"ids": [newest["id"]]}).json()
    assert marked == {"marked": 1, "unread": 1}
    assert w.post("/v1/notifications/read", bob, json={"ids": [newest["id"]]}).json()["marked"] == 0
    assert w.get("/v1/notifications/unread", ann).json() == {"unread": 1}
    assert w.post("/v1/notifications/read", ann, json={"all": True}).json()["unread"] == 0
    assert error(w.post("/v1/notifications/read", ann, json={}))["field"] == "ids"
    assert items(w.get("/v1/notifications?unread=true", ann)) == []


def test_webhooks_are_created_listed_logged_retried_and_stopped(
    market: tuple[ApiWorld, dict[str, Any]],
) -> None:
    w, m = market
    ann, bob = w.account("Ann", "recipient"), w.account("Bob", "recipient")
    body = {"url": "https://93.184.216.34/in", "events": ["bid.outbid", "auction.won"]}
    created = w.post("/v1/webhooks", ann, json=body)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["auction.won", "bid.outbid"]
    listed = items(w.get("/v1/webhooks", ann))
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert items(w.get("/v1/webhooks", bob)) == []
    for bad, field in [
        ({"url": "http://127.0.0.1:8080/in", "events": ["bid.outbid"]}, "url"),
        ({"url": "https://93.184.216.34/in", "events": ["bid.made"]}, "events"),
        ({"url": "https://93.184.216.34/in", "events": []}, "events"),
    ]:
        assert error(w.post("/v1/webhooks", ann, json=bad))["field"] == field
    for who, amount in ((ann, "10.00"), (bob, "12.00")):
        assert w.bid(who, m["data"]["id"], amount).status_code == 201
    base = f"/v1/webhooks/{hook['id']}/deliveries"
    (queued,) = items(w.get(base, ann))
    assert (queued["type"], queued["status"], queued["attempts"]) == ("bid.outbid", "pending", 0)
    one = w.get(f"{base}/{queued['id']}", ann).json()
    assert one["tries"] == [] and one["event_id"] == queued["event_id"]
    assert error(w.get(base, bob), 404)["code"] == "not_found"  # not another's to read
    assert error(w.get(f"{base}/whd_999999", ann), 404)["code"] == "not_found"
    again = w.post(f"{base}/{queued['id']}/retry", ann)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert w.client.delete(f"/v1/webhooks/{hook['id']}", headers=bob.headers).status_code == 404
    gone = w.client.delete(f"/v1/webhooks/{hook['id']}", headers=ann.headers)
    assert gone.status_code == 200 and gone.json() == {"id": hook["id"], "active": False}
    assert items(w.get("/v1/webhooks", ann)) == []
    assert error(w.post(f"{base}/{queued['id']}/retry", ann), 409)["code"] == "conflict"


def test_other_lists_page_with_cursors_too(api_world: ApiWorld) -> None:
    w = api_world
    seller = w.account("Seller", "provider")
    buyer = w.account("Buyer", "recipient")
    for i in range(3):
        a = w.create_auction(seller, title=f"Block {i}")
        assert w.bid(buyer, a["id"], "5.00").status_code == 201
        w.clock.advance(1)
        w.post(f"/v1/auctions/{a['id']}/close", w.operator, json={"reason": "now"})
    for path in ("/v1/contracts", "/v1/providers/me/contracts"):
        who = buyer if path == "/v1/contracts" else seller
        whole = items(w.get(path, who))
        first = w.get(f"{path}?limit=2", who).json()
        rest = w.get(f"{path}?limit=2&cursor={first['next_cursor']}", who).json()
        assert [c["id"] for c in first["items"] + rest["items"]] == [c["id"] for c in whole]
        assert len(whole) == 3 and rest["next_cursor"] is None
        assert error(w.get(f"{path}?cursor=xyz", who))["field"] == "cursor"
