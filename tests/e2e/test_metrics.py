"""The exchange's metrics (O1): ``/metrics`` answers the operator only (and anyone on
``--metrics-port``), and after a scripted session against a real ``commex serve`` its figures,
read with prometheus-client's parser, are the counts the session made: requests by route
template and status, bids accepted and refused by reason, closes and cancels, usage reports,
charge attempts, the scheduler, and live pages' connections."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ApiWorld
from ops_support import commex_serving, figures, operator_token, total, value
from serve_support import free_port, wait_until

M = "commex_"


def _scrape(url: str, token: str | None = None) -> dict[Any, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return figures(answer.text)


def test_only_the_operator_reads_metrics_on_the_api_port(api_world: ApiWorld) -> None:
    w = api_world
    buyer = w.account("Buyer", "recipient")
    assert w.get("/metrics").status_code == 401
    refused = w.get("/metrics", buyer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    w.get("/v1/auctions/auc_missing", buyer)  # a 404 on a route with an id
    w.get("/nowhere/at/all")
    answer = w.get("/metrics", w.operator)
    assert answer.status_code == 200
    found = figures(answer.text)
    route = "/v1/auctions/{auction_id}"
    assert value(found, M + "http_requests_total", method="GET", route=route, status="404") >= 1
    assert value(found, M + "http_requests_total", method="GET", route="unmatched",
                 status="404") >= 1  # fmt: skip
    assert not any("auc_missing" in str(labels) for _, labels in found)  # never a raw path
    assert value(found, M + "http_request_duration_seconds_count", method="GET", route=route) >= 1


def _api(url: str, token: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=30, **kw)


def _session(url: str, op: str) -> dict[str, Any]:
    """Two accounts, an auction with two bids accepted and three refused, closed by the
    operator; another cancelled; the winner's card charged by the scheduler; usage reported
    twice, once refused."""
    made = {}
    for name, role in (("Seller", "provider"), ("Buyer", "recipient"), ("Rival", "recipient")):
        answer = _api(url, None, "POST", "/v1/accounts", json={"name": name, "roles": [role]})
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["token"]
    seller, buyer, rival = made["Seller"], made["Buyer"], made["Rival"]
    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"direction": "forward", "format": "first-price", "title": "Voice",
            "terms": {"service": "voice", "duration_s": 3600}, "currency": "EUR",
            "closes_at": closes}  # fmt: skip
    auction = _api(url, seller, "POST", "/v1/auctions", json=body).json()["id"]
    spare = _api(url, seller, "POST", "/v1/auctions", json=body).json()["id"]
    bids = f"/v1/auctions/{auction}/bids"
    assert _api(url, buyer, "POST", bids, json={"amount": "10.00"}).status_code == 201
    assert _api(url, rival, "POST", bids, json={"amount": "12.00"}).status_code == 201
    assert _api(url, seller, "POST", bids, json={"amount": "13.00"}).status_code == 403
    assert _api(url, rival, "POST", bids, json={"amount": "12.001"}).status_code == 422
    assert _api(url, buyer, "POST", f"/v1/auctions/{spare}/cancel").status_code == 403
    assert _api(url, seller, "POST", f"/v1/auctions/{spare}/cancel").status_code == 200
    assert _api(url, buyer, "POST", f"/v1/auctions/{spare}/bids",
                json={"amount": "1.00"}).status_code == 409  # fmt: skip
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    assert _api(url, rival, "POST", "/v1/payment-methods", json=card).status_code == 201
    closed = _api(url, op, "POST", f"/v1/auctions/{auction}/close",
                  json={"reason": "closing early for the test"})  # fmt: skip
    assert closed.status_code == 200, closed.text
    contract = closed.json()["outcome"]["winners"][0]["contract_id"]
    member = _api(url, rival, "POST", f"/v1/contracts/{contract}/members",
                  json={"phone_number": "+14155550123"}).json()["id"]  # fmt: skip
    usage = f"/v1/contracts/{contract}/usage"
    assert _api(url, rival, "POST", usage,
                json={"member_id": member, "seconds": 30}).status_code == 201  # fmt: skip
    assert _api(url, rival, "POST", usage,
                json={"member_id": member, "seconds": -1}).status_code == 422  # fmt: skip
    return {"auction": auction, "contract": contract}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_scripted_session_is_counted_on_both_ports(tmp_path: Path, workers: int) -> None:
    """With several worker processes, whichever answers ``/metrics`` (and the port without a
    token, served by the parent) shows the figures of all of them added up."""
    data = tmp_path / "data"
    op = operator_token(data)
    metrics_port = free_port()
    args = ("--metrics-port", str(metrics_port), "--workers", str(workers))
    with commex_serving(data, *args) as served:
        url = served.url
        _session(url, op)
        plain = f"http://127.0.0.1:{metrics_port}"
        wait_until(  # the scheduler charges the new contract within a second or two
            lambda: total(_scrape(plain), M + "charge_attempts_total") >= 1, "a charge", 30
        )
        with_token, without = _scrape(url, op), _scrape(plain)
        assert _api(url, None, "GET", "/metrics").status_code == 401
    for found in (with_token, without):
        assert value(found, M + "bids_accepted_total") == 2
        assert value(found, M + "bids_refused_total", reason="forbidden") == 1
        assert value(found, M + "bids_refused_total", reason="invalid") == 1
        assert value(found, M + "bids_refused_total", reason="auction_not_open") == 1
        assert value(found, M + "auctions_closed_total") == 1
        assert value(found, M + "auctions_cancelled_total") == 1
        assert value(found, M + "charge_attempts_total", outcome="succeeded") == 1
        assert value(found, M + "usage_reports_total", source="member", outcome="accepted") == 1
        assert value(found, M + "usage_reports_total", source="member", outcome="invalid") == 1
        bids = "/v1/auctions/{auction_id}/bids"
        for status, n in (("201", 2), ("403", 1), ("422", 1), ("409", 1)):
            assert value(found, M + "http_requests_total", method="POST", route=bids,
                         status=status) == n, status  # fmt: skip
        assert value(found, M + "http_request_duration_seconds_count", method="POST",
                     route=bids) == 5  # fmt: skip
        assert value(found, M + "http_requests_total", method="POST", route="/v1/accounts",
                     status="201") == 3  # fmt: skip
        assert value(found, M + "scheduler_last_run_timestamp_seconds") > 0


def test_the_scheduler_lag_and_live_clients_are_measured(tmp_path: Path) -> None:
    data = tmp_path / "data"
    op = operator_token(data)
    with commex_serving(data) as served:
        url = served.url
        seller = _api(url, None, "POST", "/v1/accounts",
                      json={"name": "Seller", "roles": ["provider"]}).json()["token"]  # fmt: skip
        closes = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        body = {"direction": "forward", "format": "english", "title": "Soon",
                "terms": {"service": "voice", "duration_s": 60}, "currency": "EUR",
                "closes_at": closes, "min_increment": "1.00"}  # fmt: skip
        auction = _api(url, seller, "POST", "/v1/auctions", json=body).json()["id"]
        stop = threading.Event()
        opened = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{url}/events", timeout=30) as stream:
                opened.set()
                for _ in stream.iter_lines():
                    if stop.is_set():
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)
        wait_until(lambda: value(_scrape(url, op), M + "sse_clients") == 1, "a live client", 15)
        wait_until(
            lambda: value(_scrape(url, op), M + "scheduler_lag_seconds_count") == 1,
            f"the scheduler to close {auction}", 30,
        )  # fmt: skip
        found = _scrape(url, op)
        assert value(found, M + "auctions_closed_total") == 1
        lag = value(found, M + "scheduler_lag_seconds_sum")
        assert 0 <= lag < 10  # the scheduler runs every second
        stop.set()
        # The stream's next line lets the thread go: a change (a new auction) rather than
        # waiting for the next ping.
        _api(url, seller, "POST", "/v1/auctions", json=body | {"closes_at": (
            datetime.now(UTC) + timedelta(hours=1)).isoformat()})  # fmt: skip
        listener.join(20)
        wait_until(lambda: value(_scrape(url, op), M + "sse_clients") == 0, "the client gone", 30)
