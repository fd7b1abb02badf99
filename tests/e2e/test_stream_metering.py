"""Metering the packet plane into a contract, with real processes (S7, T3, T4, R6): a provider
sells a block of stream processing, the recipient wins it, and the provider's runs and nodes
count their stream-seconds into it by themselves; a run below the minimum rate is a breach."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from live_support import Plane, Receiver, RtcpAnswerer, send_at_pace, synthetic_calls
from serve_support import EXE, answers, free_port, wait_until

from commex.stream import rtp
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.pcap import read_capture
from commex.stream.rtcp import ReceiverReport
from commex.stream.rtcpbuild import bye_compound
from commex.stream.steps.base import StepSpec
from commex.stream.tasks import SegmentTask
from support.serving import stop_all

REPO = Path(__file__).resolve().parents[2]
FAX = REPO.parent / "shared" / "testdata" / "captures" / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
COMMEX = EXE
NODE_TOKEN = "node-secret-for-metering"
MIN_RATE, MAX_RATE = 20_000, 64_000

pytestmark = pytest.mark.slow


class World:
    """A running exchange with an operator, a provider and a recipient, reached over HTTP."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = dict(os.environ, COMMEX_DATA_DIR=str(tmp), COMMEX_NODE_TOKEN=NODE_TOKEN)
        self.env.pop("COMMEX_DATABASE_URL", None)
        self.procs: list[subprocess.Popen[bytes]] = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.launch("serve", "--port", str(port), COMMEX_ALLOW_PRIVATE_URLS="1")  # a loopback node
        # The operator is made while the server starts (both on the migrated database).
        created = subprocess.run(
            [COMMEX, "operator", "create", "Moderator"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        self.operator = created.stdout.split("API token (shown once): ")[1].split()[0]
        wait_until(lambda: answers(f"{self.url}/v1/health"), "the exchange")
        self.provider = self.account("Media Works", "provider")
        self.recipient = self.account("Village Radio", "recipient")

    def launch(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [COMMEX, *args], env=self.env | env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def account(self, name: str, role: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/v1/accounts", json={"name": name, "roles": [role]})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def call(self, method: str, path: str, token: str, **kw: Any) -> Any:
        r = httpx.request(
            method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
        )
        assert r.is_success, (r.status_code, r.text)
        return r.json()

    def contract(self) -> str:
        """A stream-processing block sold by auction: the provider offers, the recipient bids,
        the operator closes."""
        closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        terms = {
            "service": "stream-processing",
            "duration_s": 3600,
            "min_rate_bps": MIN_RATE,
            "max_rate_bps": MAX_RATE,
        }
        auction = self.call(
            "POST", "/v1/auctions", self.provider["token"],
            json={"direction": "forward", "format": "first-price", "title": "Media processing",
                  "terms": terms, "currency": "EUR", "closes_at": closes},
        )  # fmt: skip
        self.call("POST", f"/v1/auctions/{auction['id']}/bids", self.recipient["token"],
                  json={"amount": "25.00"})  # fmt: skip
        closed = self.call("POST", f"/v1/auctions/{auction['id']}/close", self.operator,
                           json={"reason": "sold to the only bidder"})  # fmt: skip
        contract_id = str(closed["outcome"]["winners"][0]["contract_id"])
        assert self.view(contract_id)["status"] == "active"
        return contract_id

    def view(self, contract_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/contracts/{contract_id}", self.provider["token"]))

    def used(self, contract_id: str) -> float:
        return float(self.view(contract_id)["usage"]["used_seconds"])

    def process(self, contract_id: str, *args: str, code: int = 0) -> dict[str, Any]:
        report = self.tmp / f"report-{time.monotonic_ns()}.json"
        done = subprocess.run(
            [COMMEX, "stream", "process", str(FAX), "--out", str(self.tmp / "out.pcap"),
             "--step", "transcode:pcmu", "--contract", contract_id, "--report", str(report),
             "--quiet", *args],
            env=self.env | {"COMMEX_TOKEN": self.provider["token"],
                            "COMMEX_EXCHANGE_URL": self.url},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == code, done.stderr
        return dict(json.loads(report.read_text())) if report.exists() else {"stderr": done.stderr}

    def close(self) -> None:
        stop_all(self.procs)


@pytest.fixture
def world(data_dir: Path) -> Iterator[World]:
    w = World(data_dir)
    try:
        yield w
    finally:
        w.close()


def test_a_run_meters_its_stream_seconds_and_a_slow_run_is_a_breach(world: World) -> None:
    contract_id = world.contract()
    assert world.used(contract_id) == 0

    first = world.process(contract_id)
    assert first["shaped_to_bps"] == MAX_RATE  # the contract's rate terms shape the run
    assert MIN_RATE <= first["achieved_rate_bps"] <= MAX_RATE
    assert first["duration_s"] == pytest.approx(72.745, abs=0.01)  # two streams of the call
    assert world.used(contract_id) == pytest.approx(first["duration_s"], abs=0.001)
    assert first["contract"]["breach"] is False
    assert first["contract"]["remaining_seconds"] == pytest.approx(3600 - first["duration_s"])

    slow = world.process(contract_id, "--max-rate", "10000")
    assert slow["achieved_rate_bps"] == pytest.approx(10_000, rel=1e-3)
    assert slow["contract"]["breach"] is True
    assert slow["contract"]["min_rate_bps"] == MIN_RATE
    view = world.view(contract_id)
    assert view["usage"]["used_seconds"] == pytest.approx(2 * first["duration_s"], abs=0.002)
    [breach] = view["breaches"]
    assert breach["achieved_rate_bps"] == slow["achieved_rate_bps"]
    assert breach["run_id"] == slow["contract"]["run_id"]
    provider = world.call("GET", f"/v1/accounts/{world.provider['id']}", world.recipient["token"])
    sla = provider["reputation"]["as_provider"]["sla"]
    assert (sla["measured"], sla["breaches"]) == (2, 1)
    assert sla["breached_seconds"] == pytest.approx(slow["duration_s"], abs=0.002)


def test_a_run_is_refused_before_processing_when_the_contract_is_not_the_callers(
    world: World,
) -> None:
    contract_id = world.contract()
    other = world.account("Someone Else", "provider")
    world.provider = other  # a provider that is not the contract's
    failed = world.process(contract_id, code=3)  # the exchange shows it only to its parties
    assert failed == {"stderr": f"error: contract {contract_id} not found\n"}
    assert not (world.tmp / "out.pcap").exists()


def test_a_node_takes_only_active_contracts_and_meters_them_itself(world: World) -> None:
    contract_id = world.contract()
    port = free_port()
    node = world.launch(
        "node", "serve", "--capabilities", "transcode", "--port", str(port),
        "--exchange", world.url, "--meter-every", "0.5", COMMEX_TOKEN=world.provider["token"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{url}/v1/node"), "the node")
    batch = read_capture(FAX).batch
    tasks = [
        SegmentTask(i, batch.take(np.arange(lo, min(lo + 200, len(batch)))),
                    (StepSpec("transcode", "pcmu"),))
        for i, lo in enumerate(range(0, len(batch), 200))
    ]  # fmt: skip
    tagged = NodeClient(url, NODE_TOKEN, contract=contract_id)
    stranger = NodeClient(url, NODE_TOKEN, contract="no-such-contract")
    untagged = NodeClient(url, NODE_TOKEN)
    try:
        for task in tasks:
            tagged.process(task)
        with pytest.raises(NodeError, match=r"403.*not an active contract"):
            stranger.process(tasks[0])
        untagged.process(tasks[0])  # subcontracted work from another provider: not metered
    finally:
        for c in (tagged, stranger, untagged):
            c.close()

    # The node flushes by itself; its segments add up to the whole call's stream-seconds.
    wait_until(lambda: world.used(contract_id) > 0, "the node's delivery")

    # A run dispersed to the node under the contract reports itself and is counted once.
    run = world.process(contract_id, "--executor", f"node:{url}")
    assert run["packets_out"] == len(batch)
    node.send_signal(signal.SIGTERM)
    node.wait(timeout=30)
    usage = world.view(contract_id)["usage"]
    by_node = [d for d in usage["deliveries"] if d["run_id"] != run["contract"]["run_id"]]
    assert sum(d["packets"] for d in by_node) == len(batch)
    assert sum(d["accepted_seconds"] for d in by_node) == pytest.approx(72.745, abs=0.05)
    assert usage["used_seconds"] == pytest.approx(
        sum(d["accepted_seconds"] for d in by_node) + run["duration_s"], abs=0.002
    )


def test_a_live_stream_is_metered_while_it_runs(world: World) -> None:
    contract_id = world.contract()
    source = read_capture(FAX).batch
    speech = source.take(np.flatnonzero(source.stream == 1))  # 10 ms packets of one stream
    report = world.tmp / "live.json"
    proc = subprocess.Popen(
        [COMMEX, "stream", "process", "udp://127.0.0.1:0", "--out", str(world.tmp / "live.pcap"),
         "--contract", contract_id, "--meter-every", "1", "--idle-timeout", "1",
         "--report", str(report)],
        env=world.env | {"COMMEX_TOKEN": world.provider["token"], "COMMEX_EXCHANGE_URL": world.url,
                         "COLUMNS": "200"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = proc.stderr.readline()
            assert line, "stream process ended before listening"
            if "listening on udp://127.0.0.1:" in line:
                port = int(line.rsplit(":", 1)[1])
        metered_while_sending = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            start = time.monotonic()
            for i, datagram in enumerate(rtp.datagrams(speech)):
                # The sender keeps the stream's own pace: one packet every 10 ms.
                time.sleep(max(0.0, start + i * 0.01 - time.monotonic()))
                sender.sendto(datagram, ("127.0.0.1", port))
                if i % 100 == 99 and world.used(contract_id) > 0:
                    metered_while_sending = True
                    break
        assert metered_while_sending, "no delivery was recorded while the stream ran"
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    result = json.loads(report.read_text())
    usage = world.view(contract_id)["usage"]
    run_id = result["contract"]["run_id"]
    reports = result["contract"]["deliveries"]
    # At least one while it ran; the rest at the end, unless those already held every
    # stream-second (the sum below shows that nothing was left out).
    assert reports >= 1
    assert {d["run_id"] for d in usage["deliveries"]} == {
        f"{run_id}-{i}" for i in range(1, reports + 1)
    }
    assert usage["used_seconds"] == pytest.approx(result["duration_s"], abs=0.01)


@pytest.mark.serial  # the round trip it measures must stay under 100 ms
def test_the_receivers_rtcp_reports_reach_the_delivery_and_name_the_breach(world: World) -> None:
    contract_id = world.contract()
    call = synthetic_calls(1, 4.0, first_ssrc=0xCA11)
    receiver = Receiver(pair=True)
    # The far end says it lost 3 of every 4 packets: the plane sends about 64 kbit/s, above the
    # 20 kbit/s minimum by its own measure, but the receiver got about 16.
    answerer = RtcpAnswerer(receiver.port + 1, fraction_lost=192, packets_lost=150, jitter=160)
    plane = Plane(
        receiver.port, world.tmp, "--step", "transcode:pcmu", "--contract", contract_id,
        COMMEX_TOKEN=world.provider["token"], COMMEX_EXCHANGE_URL=world.url,
    )  # fmt: skip
    try:
        send_at_pace(call, [plane.port])
        wait_until(lambda: answerer.answered > 0, "a receiver report", timeout=15)
        bye = bye_compound(ReceiverReport(0xCA11), "caller@test")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            caller.sendto(bye, ("127.0.0.1", plane.port))
        wait_until(lambda: any("ended (bye)" in line for line in plane.stderr), "the BYE",
                   timeout=10)  # fmt: skip
        plane.stop(signal.SIGTERM)
        report = plane.finish()
    finally:
        plane.kill()
        answerer.close()
        receiver.close()
    assert report["contract"]["breach"] is True
    (delivery,) = world.view(contract_id)["usage"]["deliveries"]
    assert delivery["run_id"].startswith(report["contract"]["run_id"])
    assert delivery["achieved_rate_bps"] >= MIN_RATE  # met by the plane's own measure
    assert (delivery["breach"], delivery["breach_measured_by"]) == (True, "receiver")
    heard = delivery["receiver"]
    assert (heard["streams"], heard["fraction_lost"], heard["cumulative_lost"]) == (1, 0.75, 150)
    assert heard["jitter_ms"] == 20.0 and 0 <= heard["round_trip_ms"] < 100
    (breach,) = world.view(contract_id)["breaches"]
    assert breach["breach_measured_by"] == "receiver"


def test_reports_made_while_the_call_goes_on_carry_what_its_receiver_said(world: World) -> None:
    contract_id = world.contract()
    call = synthetic_calls(1, 8.0, first_ssrc=0xCA11)
    receiver = Receiver(pair=True)
    answerer = RtcpAnswerer(receiver.port + 1, fraction_lost=192, packets_lost=150, jitter=160)
    plane = Plane(
        receiver.port, world.tmp, "--step", "transcode:pcmu", "--contract", contract_id,
        "--meter-every", "1", "--idle-timeout", "1",
        COMMEX_TOKEN=world.provider["token"], COMMEX_EXCHANGE_URL=world.url,
    )  # fmt: skip
    try:
        send_at_pace(call, [plane.port])
        # A receiver report came back while the call went on.
        assert answerer.answered > 0
        report = plane.finish()
    finally:
        plane.kill()
        answerer.close()
        receiver.close()
    deliveries = world.view(contract_id)["usage"]["deliveries"]
    assert len(deliveries) == report["contract"]["deliveries"] >= 4  # one per stream-second or so
    heard = [d for d in deliveries if d.get("receiver")]
    last = max(deliveries, key=lambda d: int(d["run_id"].rsplit("-", 1)[1]))
    # Every report after the receiver's first one carries it, not only the last report.
    assert last in heard and len(heard) >= 2
    for d in heard:
        assert (d["breach"], d["breach_measured_by"]) == (True, "receiver")
        assert (d["receiver"]["fraction_lost"], d["receiver"]["cumulative_lost"]) == (0.75, 150)
    breaches = world.view(contract_id)["breaches"]
    assert len(breaches) == len(heard) and {b["breach_measured_by"] for b in breaches} == {
        "receiver"
    }
