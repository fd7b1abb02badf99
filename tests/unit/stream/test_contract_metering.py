"""`stream process --contract` against a small stand-in exchange: it reads the contract, shapes
to its maximum rate, reports the delivery once per run id, and says clearly when it cannot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from stream_helpers import FAX, serve_in_thread
from typer.testing import CliRunner

from commex.cli.registry import build_app
from commex.client import DeliveryNotRecorded, ExchangeClient, deliver_with_retries
from commex.domain.errors import Conflict
from commex.metering_client import ContractMeter
from commex.stream import rtp
from commex.stream.metering import Delivery, stream_seconds
from commex.stream.pcap import read_capture
from commex.stream.shaping import shape

PROVIDER_TOKEN = "provider-token"


@dataclass
class FakeExchange:
    """Contracts, the provider behind a token, and the deliveries the plane reported."""

    status: str = "active"
    terms: dict[str, Any] = field(
        default_factory=lambda: {"service": "stream-processing", "duration_s": 3600}
    )
    failures: int = 0  # answer this many delivery reports with 503 first
    remaining: float = 3600.0
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/accounts/me")
        def me(request: Request) -> Any:
            if request.headers.get("authorization") != f"Bearer {PROVIDER_TOKEN}":
                return JSONResponse({"error": {"code": "x", "message": "who?"}}, 401)
            return {"id": "prov-1", "name": "Media Co"}

        @app.get("/v1/contracts/{cid}")
        def contract(cid: str) -> Any:
            return {"id": cid, "provider_id": "prov-1", "status": self.status, "terms": self.terms}

        @app.post("/v1/contracts/{cid}/deliveries", status_code=201)
        async def deliver(cid: str, request: Request) -> Any:
            body = await request.json()
            self.posts.append(body["run_id"])
            if body["seconds"] <= 0:  # as the exchange: a report of no seconds is refused
                return JSONResponse({"error": {"code": "x", "message": "seconds > 0"}}, 422)
            if self.failures:
                self.failures -= 1
                return JSONResponse({"error": {"code": "down", "message": "busy"}}, 503)
            if self.remaining <= 0:
                return JSONResponse(
                    {"error": {"code": "conflict", "message": "nothing of the block remains"}},
                    409,
                )
            if body["run_id"] not in self.deliveries:
                self.deliveries[body["run_id"]] = body
                self.remaining -= body["seconds"]
            minimum = self.terms.get("min_rate_bps")
            return {
                "id": f"d{len(self.deliveries)}",
                "accepted_seconds": body["seconds"],
                "remaining_seconds": self.remaining,
                "breach": minimum is not None and body["achieved_rate_bps"] < minimum,
                "min_rate_bps": minimum,
            }

        return app


@pytest.fixture
def fake() -> Iterator[tuple[FakeExchange, str]]:
    exchange = FakeExchange()
    with serve_in_thread(exchange.app()) as url:
        yield exchange, url


def process(url: str | None, tmp_path, *args: str, code: int = 0) -> tuple[str, dict]:
    env = {"COMMEX_TOKEN": PROVIDER_TOKEN, "COLUMNS": "200"}
    if url:
        env["COMMEX_EXCHANGE_URL"] = url
    argv = ["stream", "process", str(FAX), "--out", str(tmp_path / "out.pcap"), "--quiet"]
    argv += ["--report", str(tmp_path / "r.json"), "--step", "transcode:pcmu", *args]
    result = CliRunner().invoke(build_app(), argv, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    report = tmp_path / "r.json"
    return result.stdout + result.stderr, json.loads(report.read_text()) if report.exists() else {}


def test_a_run_under_a_contract_is_shaped_to_its_rate_and_reported_once(fake, tmp_path) -> None:
    exchange, url = fake
    exchange.terms |= {"max_rate_bps": 16_000, "min_rate_bps": 8_000}
    out, report = process(url, tmp_path, "--contract", "c-1")
    assert report["shaped_to_bps"] == 16_000
    assert report["achieved_rate_bps"] == pytest.approx(16_000, rel=1e-3)
    [(run_id, body)] = exchange.deliveries.items()
    assert len(run_id) <= 64
    assert body == {
        "run_id": run_id,
        "seconds": report["duration_s"],
        "bytes": report["bytes_out"],
        "packets": 1330,
        "achieved_rate_bps": report["achieved_rate_bps"],
    }
    assert report["contract"]["breach"] is False
    assert report["contract"]["remaining_seconds"] == pytest.approx(3600 - report["duration_s"])
    assert report["contract"]["run_id"] == run_id
    assert "delivered under contract c-1" in out
    written = read_capture(tmp_path / "out.pcap").batch
    assert np.array_equal(written.arrival_us, shape(read_capture(FAX).batch, 16_000).departure_us())


def test_max_rate_overrides_the_contract_and_a_slow_run_is_a_breach(fake, tmp_path) -> None:
    exchange, url = fake
    exchange.terms |= {"max_rate_bps": 64_000, "min_rate_bps": 20_000}
    out, report = process(url, tmp_path, "--contract", "c-1", "--max-rate", "10000")
    assert report["shaped_to_bps"] == 10_000
    assert report["contract"]["breach"] is True
    assert "below the contract's minimum of 20,000 bit/s" in out


@pytest.mark.parametrize("status", ["awarded", "completed"])
def test_a_contract_that_is_not_active_processes_nothing(fake, tmp_path, status) -> None:
    exchange, url = fake
    exchange.status = status
    out, _ = process(url, tmp_path, "--contract", "c-1", code=6)
    assert f"contract c-1 is {status}, not active: nothing was processed" in out
    assert not (tmp_path / "out.pcap").exists()
    assert exchange.posts == []


def test_a_contract_needs_an_exchange(tmp_path) -> None:
    out, _ = process(None, tmp_path, "--contract", "c-1", code=2)
    assert "--contract needs the exchange" in out


def test_a_failing_exchange_is_retried_with_the_same_run_id(fake, tmp_path) -> None:
    exchange, url = fake
    exchange.failures = 2
    _, report = process(url, tmp_path, "--contract", "c-1")
    assert len(exchange.posts) == 3 and len(set(exchange.posts)) == 1
    assert list(exchange.deliveries) == exchange.posts[:1]
    assert report["contract"]["deliveries"] == 1


def test_a_delivery_that_cannot_be_recorded_fails_the_command_but_keeps_the_output(
    fake, tmp_path
) -> None:
    exchange, url = fake
    exchange.failures = 100
    out, report = process(url, tmp_path, "--contract", "c-1", code=1)
    assert "was not recorded after 4 tries" in out
    assert (tmp_path / "out.pcap").exists()
    assert report["contract"]["recorded"] is False
    assert exchange.deliveries == {}


def test_a_used_up_block_is_said_clearly(fake, tmp_path) -> None:
    exchange, url = fake
    exchange.remaining = 0
    out, report = process(url, tmp_path, "--contract", "c-1", code=6)
    assert "nothing of the block remains" in out
    assert report["contract"]["recorded"] is False


def test_network_errors_are_retried_then_reported_as_not_recorded() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content)["run_id"])
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, json={"accepted_seconds": 1.0, "breach": False})

    with ExchangeClient("http://exchange.test", "t", transport=httpx.MockTransport(handler)) as c:
        slept: list[float] = []
        answer = deliver_with_retries(c, "c-1", {"run_id": "r-1"}, sleep=slept.append)
        assert answer["accepted_seconds"] == 1.0
        assert calls == ["r-1"] * 3 and slept == [0.5, 1.0]
        calls.clear()
        with pytest.raises(DeliveryNotRecorded, match="r-1 to contract c-1 was not recorded"):
            deliver_with_retries(c, "c-1", {"run_id": "r-1"}, attempts=2, sleep=slept.append)


def test_a_live_run_is_metered_while_it_runs(fake) -> None:
    exchange, url = fake
    packets = read_capture(FAX).batch
    with ExchangeClient(url, PROVIDER_TOKEN) as client:
        meter = ContractMeter(client, "c-1", live=True, every_s=10.0, sleep=lambda s: None)
        for lo in range(0, len(packets), 100):
            meter.add(packets.take(np.arange(lo, min(lo + 100, len(packets)))))
        meter.settled()  # the reports go from a thread of their own, never holding the run
        during = len(exchange.deliveries)
        sizes = rtp.rtp_sizes(packets)
        total = Delivery(stream_seconds(packets), int(sizes.sum()), len(packets), 1000)
        summary = meter.finish(total)
    # 72 stream-seconds, reported once at least 10 had gone through; the mostly silent stream
    # adds its seconds in jumps, so a report may hold more than 10.
    assert during >= 3
    interim = list(exchange.deliveries.values())[:during]
    assert all(b["seconds"] >= 10.0 for b in interim)
    ids = list(exchange.deliveries)
    assert ids == [f"{meter.run_id}-{i}" for i in range(1, len(ids) + 1)]
    bodies = exchange.deliveries.values()
    assert sum(b["seconds"] for b in bodies) == pytest.approx(total.seconds, abs=1e-3)
    assert sum(b["bytes"] for b in bodies) == total.bytes
    assert summary["deliveries"] == len(ids)


def test_a_run_whose_reports_already_hold_every_second_ends_without_an_empty_one(fake) -> None:
    exchange, url = fake
    packets = read_capture(FAX).batch
    with ExchangeClient(url, PROVIDER_TOKEN) as client:
        meter = ContractMeter(client, "c-1", live=True, every_s=10.0, sleep=lambda s: None)
        meter.add(packets)
        meter.settled()  # the reports so far went out from the meter's own thread
        sent = sum(b["seconds"] for b in exchange.deliveries.values())
        summary = meter.finish(Delivery(sent, 0, 0, 1000))
    assert sent > 0 and summary["deliveries"] == len(exchange.deliveries) == len(exchange.posts)
    assert summary["accepted_seconds"] == pytest.approx(sent)


def test_a_report_that_fails_mid_run_is_sent_again_at_the_end(fake) -> None:
    exchange, url = fake
    warnings: list[str] = []
    packets = read_capture(FAX).batch
    with ExchangeClient(url, PROVIDER_TOKEN) as client:
        meter = ContractMeter(
            client, "c-1", live=True, every_s=30.0, attempts=1, warn=warnings.append
        )
        exchange.failures = 1
        meter.add(packets)
        meter.settled()
        assert exchange.deliveries == {} and "sent again at the end" in warnings[0]
        meter.finish(Delivery(80.0, 100, 10, 1000))
    assert list(exchange.deliveries) == [f"{meter.run_id}-1", f"{meter.run_id}-2"]


def test_conflict_is_not_retried(fake) -> None:
    exchange, url = fake
    exchange.remaining = 0
    with ExchangeClient(url, PROVIDER_TOKEN) as client, pytest.raises(Conflict):
        deliver_with_retries(client, "c-1", {"run_id": "x", "seconds": 1, "achieved_rate_bps": 1})
    assert exchange.posts == ["x"]


def test_a_block_used_up_mid_stream_lets_the_stream_finish(fake) -> None:
    exchange, url = fake
    warnings: list[str] = []
    packets = read_capture(FAX).batch
    with ExchangeClient(url, PROVIDER_TOKEN) as client:
        meter = ContractMeter(client, "c-1", live=True, every_s=5.0, warn=warnings.append)
        exchange.remaining = 0
        for lo in range(0, len(packets), 100):
            meter.add(packets.take(np.arange(lo, min(lo + 100, len(packets)))))
        meter.settled()
        assert exchange.posts == [f"{meter.run_id}-1"]  # asked once, then no more
        assert "nothing of the block remains" in warnings[0]
        with pytest.raises(Conflict):
            meter.finish(Delivery(80.0, 100, 10, 1000))
