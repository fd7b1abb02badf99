"""Every answer passes the same middleware: a request id (kept when sane, made otherwise), the
security headers, the body limit, and an access log that can be switched off; the bids' fast
path answers through the same layers, with the same errors as the FastAPI routes."""

from __future__ import annotations

import logging

import pytest
from api_support import ApiWorld
from fastapi.testclient import TestClient

from commex.bootstrap import in_memory_services
from commex.server import create_server
from support.net import wait_until

SECURITY = (
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
)


def _bid_path(w: ApiWorld) -> tuple[str, dict[str, str]]:
    seller, buyer = w.account("Seller", "provider"), w.account("Buyer", "recipient")
    auction = w.post("/v1/auctions", seller, json=w.auction_body()).json()
    return f"/v1/auctions/{auction['id']}/bids", buyer.headers


@pytest.mark.parametrize("incoming", ["req-42.a:b_c", "x" * 128])
def test_a_sane_request_id_is_kept(api_world: ApiWorld, incoming: str) -> None:
    path, auth = _bid_path(api_world)
    for answer in (
        api_world.client.get("/v1/health", headers={"X-Request-Id": incoming}),
        api_world.client.post(
            path, json={"amount": "5.00"}, headers=auth | {"X-Request-Id": incoming}
        ),
    ):
        assert answer.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 129, "two words", "new\u00e9line", "a/b"])
def test_anything_else_gets_a_new_request_id(api_world: ApiWorld, incoming: str) -> None:
    answer = api_world.client.get("/v1/health", headers={"X-Request-Id": incoming.encode()})
    made = answer.headers["x-request-id"]
    assert made != incoming and len(made) == 32 and int(made, 16) >= 0
    again = api_world.client.get("/v1/health").headers["x-request-id"]
    assert again != made  # each request its own


def test_every_kind_of_answer_carries_the_security_headers_and_an_id(api_world: ApiWorld) -> None:
    path, auth = _bid_path(api_world)
    answers = [
        api_world.client.get("/v1/health"),
        api_world.client.get("/"),
        api_world.client.get("/v1/no-such-thing"),
        api_world.client.post(path, json={"amount": "5.00"}, headers=auth),  # the fast path
        api_world.client.post(path, json={"amount": "-1"}, headers=auth),
        api_world.client.post(path, json={"amount": "5.00"}),  # no token
        api_world.client.post(path, content=b"x" * (2 << 20), headers=auth),  # too large
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 201, 422, 401, 413]
    for answer in answers:
        assert all(name in answer.headers for name in SECURITY), answer.request.url
        assert answer.headers["x-request-id"]


def test_the_fast_path_answers_errors_as_the_routes_do(api_world: ApiWorld) -> None:
    path, auth = _bid_path(api_world)
    bad_json = api_world.client.post(
        path, content=b'{"amount": ', headers=auth | {"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert "not valid JSON" in bad_json.json()["error"]["message"]
    missing = api_world.client.post(path, json={}, headers=auth).json()["error"]
    assert (missing["code"], missing["field"]) == ("invalid", "amount")
    as_text = api_world.client.post(
        path, content=b'{"amount": "5.00"}', headers=auth | {"content-type": "text/plain"}
    )
    assert as_text.status_code == 422
    device = api_world.client.post(
        path, json={"amount": "5.00"}, headers={"Authorization": "Bearer cxd_x"}
    )
    assert device.status_code == 403
    nowhere = api_world.client.post(
        "/v1/auctions/auc_nosuchauction00000/bids", json={"amount": "5.00"}, headers=auth
    )
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    wrong_method = api_world.client.get(path, headers=auth)
    assert wrong_method.status_code == 405


def test_the_access_log_names_each_request_and_can_be_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for enabled in (True, False):
        services = in_memory_services()
        with TestClient(create_server(services, scheduler=False, access_log=enabled)) as client:
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="commex.access"):
                rid = client.get("/v1/health", headers={"X-Request-Id": "abc-1"}).headers[
                    "x-request-id"
                ]
        lines = [r.getMessage() for r in caplog.records if r.name == "commex.access"]
        if enabled:
            assert len(lines) == 1
            assert lines[0].startswith("GET /v1/health 200 ") and lines[0].endswith(f"id={rid}")
        else:
            assert lines == []
        services.shutdown()


def test_each_bid_leaves_its_access_line(
    api_world: ApiWorld, caplog: pytest.LogCaptureFixture
) -> None:
    path, auth = _bid_path(api_world)
    with caplog.at_level(logging.INFO, logger="commex.access"):
        rids = [
            api_world.client.post(path, json={"amount": f"{5 + i}.00"}, headers=auth).headers[
                "x-request-id"
            ]
            for i in range(3)
        ]
        refused = api_world.client.post(path, json={"amount": "-1"}, headers=auth)

        def bid_lines() -> list[str]:
            # A loop turn's access lines are written at the end of the turn, which may come
            # after its answers have reached the client: wait for them, and count only the
            # bids' (the set-up's own calls may be written in the same while).
            messages = [r.getMessage() for r in caplog.records if r.name == "commex.access"]
            return [m for m in messages if m.startswith(f"POST {path} ")]

        wait_until(lambda: len(bid_lines()) >= 4, "the bids' access lines", timeout=10)
    lines = bid_lines()
    assert len(lines) == 4
    answers = [(201, rid) for rid in rids] + [(422, refused.headers["x-request-id"])]
    for line, (status, rid) in zip(lines, answers, strict=True):
        assert line.startswith(f"POST {path} {status} ") and line.endswith(f"id={rid}")


def test_an_unexpected_failure_of_a_bid_is_a_plain_500_with_the_headers(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, auth = _bid_path(api_world)

    def broken(message: object) -> object:
        raise RuntimeError("the desk broke")

    monkeypatch.setattr(api_world.services.bus, "submit_on_loop", broken)
    answer = api_world.client.post(
        path, json={"amount": "5.00"}, headers=auth | {"X-Request-Id": "req-500"}
    )
    assert (answer.status_code, answer.text) == (500, "Internal Server Error")
    assert "the desk broke" not in answer.text
    assert answer.headers["x-request-id"] == "req-500"
    assert all(name in answer.headers for name in SECURITY)
