"""Request ids and the audit trail over HTTP (O1): every answer names its request in
``X-Request-Id`` (a sane incoming one is kept), the changes a request made carry that id in
the audit trail, and ``GET /v1/audit`` shows the operator everything and an account what
concerns it, on every storage."""

from __future__ import annotations

import re

from api_support import ApiWorld


def test_every_answer_names_its_request_and_keeps_a_sane_incoming_id(
    api_world: ApiWorld,
) -> None:
    mine = api_world.get("/v1/health", headers={"X-Request-Id": "lb-7f3e:42.a_b"})
    assert mine.headers["X-Request-Id"] == "lb-7f3e:42.a_b"
    fresh = {api_world.get("/v1/health").headers["X-Request-Id"] for _ in range(3)}
    assert len(fresh) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in fresh)
    for insane in ("", "x" * 129, "two words", "<script>", "a\tb"):
        got = api_world.get("/v1/health", headers={"X-Request-Id": insane})
        assert got.headers["X-Request-Id"] != insane
        assert re.fullmatch(r"[0-9a-f]{32}", got.headers["X-Request-Id"])
    # errors, pages and unknown addresses are named too
    for answer in (api_world.get("/v1/auctions"), api_world.get("/"), api_world.get("/nowhere")):
        assert answer.headers["X-Request-Id"]


def test_the_trail_names_the_request_of_each_change(api_any_world: ApiWorld) -> None:
    w = api_any_world
    seller = w.account("Seller", "provider")
    buyer = w.account("Buyer", "recipient")
    auction = w.create_auction(seller)
    answer = w.bid(buyer, auction["id"], "10.00")
    assert answer.status_code == 201
    request_id = answer.headers["X-Request-Id"]
    close = w.post(
        f"/v1/auctions/{auction['id']}/close", w.operator,
        json={"reason": "closing early for the test"}, headers={"X-Request-Id": "op-close-1"},
    )  # fmt: skip
    assert close.status_code == 200, close.text
    story = w.get(f"/v1/audit?subject={auction['id']}", w.operator)
    assert story.status_code == 200
    items = story.json()["items"]
    assert [(i["action"], i["actor"]) for i in items] == [
        ("auction.opened", seller.id),
        ("bid.placed", buyer.id),
        ("auction.closed", w.operator.id),
    ]
    assert items[1]["request_id"] == request_id
    assert items[1]["detail"] == {"bid": answer.json()["id"], "amount": "10.00",
                                  "currency": "EUR"}  # fmt: skip
    assert (items[2]["request_id"], items[2]["reason"]) == (
        "op-close-1", "closing early for the test"
    )  # fmt: skip
    assert all(i["at"].endswith("+00:00") for i in items)
    # the buyer reads what concerns it: its account, its bid, the close it won
    own = w.get("/v1/audit", buyer).json()["items"]
    assert {i["action"] for i in own} == {"account.opened", "bid.placed", "auction.closed",
                                          "contract.awarded"}  # fmt: skip
    assert all(buyer.id in i["accounts"] for i in own)
    # the seller does not see the buyer's sealed bid
    assert "bid.placed" not in {i["action"] for i in w.get("/v1/audit", seller).json()["items"]}


def test_reading_the_trail_needs_a_token_and_sane_parameters(api_world: ApiWorld) -> None:
    w = api_world
    buyer = w.account("Buyer", "recipient")
    assert w.get("/v1/audit").status_code == 401
    assert w.get("/v1/audit?subject=" + w.operator.id, buyer).json()["items"] == []
    bad_queries = (
        ("limit=0", "limit"), ("limit=501", "limit"), ("after=-1", "after"),
        ("subject=" + "a" * 65, "subject"), ("subject=a%20b", "subject"),
    )  # fmt: skip
    for query, field in bad_queries:
        bad = w.get(f"/v1/audit?{query}", w.operator)
        assert bad.status_code == 422, query
        assert bad.json()["error"]["field"].endswith(field), bad.text
    page = w.get("/v1/audit?limit=1", w.operator).json()
    assert len(page["items"]) == 1 and page["next_after"] == page["items"][0]["seq"]
    rest = w.get(f"/v1/audit?after={page['next_after']}", w.operator).json()
    assert rest["next_after"] is None and rest["items"][0]["seq"] > page["next_after"]
