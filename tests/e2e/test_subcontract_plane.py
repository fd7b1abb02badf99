"""The contract drives the plane, and the plane subcontracts on the exchange (S5, S10), with
real processes: `commex serve`, two subcontractors' `commex node serve` and provider A's
`commex stream process --contract`.

A recipient buys ``transcode:pcmu, dtmf`` from A, approving A and Bravo only. A does dtmf;
Bravo and Charlie (cheaper, not approved) publish transcoding. A's run takes its steps from the
contract, opens a subcontract with Bravo, sends the work with the subcontract's work token (no
node secret shared across providers), and closes it with its check; Bravo's node checked the
work with its node key and metered the packets; the server's scheduler charges A and pays
Bravo exactly for those packets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import EXE, answers, free_port, wait_until

from support.serving import stop_all

REPO = Path(__file__).resolve().parents[2]
FAX = REPO.parent / "shared" / "testdata" / "captures" / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
VISA = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
STEPS = ["transcode:pcmu", "dtmf"]

pytestmark = pytest.mark.slow


class Story:
    """A running exchange with an operator, a recipient and providers A, Bravo and Charlie."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = dict(os.environ, COMMEX_DATA_DIR=str(tmp))
        for name in ("COMMEX_DATABASE_URL", "COMMEX_NODE_TOKEN", "COMMEX_NODE_KEY"):
            self.env.pop(name, None)  # no node secret anywhere: each node has its own key
        self.procs: list[subprocess.Popen[bytes]] = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.launch("serve", "--port", str(port), COMMEX_ALLOW_PRIVATE_URLS="1")  # loopback nodes
        # The operator is made while the server starts (both on the migrated database).
        created = subprocess.run(
            [EXE, "operator", "create", "Moderator"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        self.operator = created.stdout.split("API token (shown once): ")[1].split()[0]
        wait_until(lambda: answers(f"{self.url}/v1/health"), "the exchange")
        self.recipient = self.account("Harbour Clinic", "recipient")
        self.a, self.b, self.c = (
            self.account(n, "provider") for n in ("Alpha", "Bravo", "Charlie")
        )

    def launch(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [EXE, *args], env=self.env | env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
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

    def node(self, who: dict[str, str], price: str) -> tuple[str, subprocess.Popen[bytes]]:
        """``who``'s transcoding node, published on the exchange, with a node key of its own."""
        key = self.call("POST", "/v1/providers/me/node-keys", who["token"], json={"name": "n1"})
        port = free_port()
        proc = self.launch(
            "node", "serve", "--capabilities", "transcode", "--port", str(port),
            "--exchange", self.url, "--price", price,
            COMMEX_TOKEN=who["token"], COMMEX_NODE_KEY=key["key"],
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{url}/v1/node"), "a node")  # answers 401: it is up
        return url, proc

    def contract(self, *approved: dict[str, str]) -> str:
        """The recipient's reverse auction for ``STEPS``, approving A and ``approved``, won by
        A, who offers dtmf and has a card unless told otherwise."""
        terms = {"service": "stream-processing", "duration_s": 3600, "steps": STEPS}
        closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        ids = [self.a["id"], *(p["id"] for p in approved)]
        auction = self.call(
            "POST", "/v1/auctions", self.recipient["token"],
            json={"direction": "reverse", "format": "first-price", "title": "Clinic calls",
                  "terms": terms, "currency": "EUR", "closes_at": closes, "reserve": "80.00",
                  "eligibility": {"approved_providers": ids}},
        )  # fmt: skip
        self.call("POST", f"/v1/auctions/{auction['id']}/bids", self.a["token"],
                  json={"amount": "50.00"})  # fmt: skip
        closed = self.call("POST", f"/v1/auctions/{auction['id']}/close", self.operator,
                           json={"reason": "awarded to the only bidder"})  # fmt: skip
        return str(closed["outcome"]["winners"][0]["contract_id"])

    def offer_dtmf(self) -> None:
        offer = {"node_url": "http://127.0.0.1:9", "capabilities": ["dtmf"], "price": "0.10",
                 "currency": "EUR"}  # fmt: skip
        self.call("PUT", "/v1/providers/me/offer", self.a["token"], json=offer)

    def process(self, contract_id: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, "stream", "process", str(FAX), "--out", str(self.tmp / "out.pcap"),
             "--contract", contract_id, "--capabilities", "dtmf", "--quiet", *args],
            env=self.env | {"COMMEX_TOKEN": self.a["token"], "COMMEX_EXCHANGE_URL": self.url},
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    def close(self) -> None:
        stop_all(self.procs)


@pytest.fixture
def story(data_dir: Path) -> Iterator[Story]:
    s = Story(data_dir)
    try:
        yield s
    finally:
        s.close()


def test_a_contracts_missing_step_is_subcontracted_metered_closed_and_charged(
    story: Story,
) -> None:
    story.node(story.b, "2.50")
    charlie, _ = story.node(story.c, "0.50")  # cheaper, but not approved by the recipient
    story.offer_dtmf()
    contract_id = story.contract(story.b)
    out = story.tmp / "out.pcap"

    # Before anything is processed: a --step that is not the contract's, the provider itself
    # or a provider the recipient did not approve as subcontractor, and no card to pay with.
    refused = story.process(contract_id, "--step", "transcode:pcma")
    assert refused.returncode != 0
    assert "disagrees with contract" in refused.stderr and "transcode:pcmu, dtmf" in refused.stderr
    refused = story.process(contract_id, "--subcontractor", f"Charlie={charlie}")
    assert refused.returncode != 0 and "not among the providers" in refused.stderr
    refused = story.process(contract_id)
    assert refused.returncode != 0 and "save a card" in refused.stderr, refused.stderr
    assert not out.exists()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)

    report_path = story.tmp / "report.json"
    done = story.process(contract_id, "--report", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    (sent,) = report["subcontracted"]
    assert (sent["step"], sent["provider"]) == ("transcode:pcmu", "Bravo")
    assert report["packets_out"] == report["packets_in"] == 1330
    assert {s["payload_type_out"] for s in report["streams"]} == {0}  # PCMU, as bought
    assert out.stat().st_size > 0

    # The subcontract: Bravo's node metered exactly the packets A's plane got back, A's check
    # closed it as passed, Bravo is rated by it.
    (closed,) = report["contract"]["subcontracts"]
    assert (closed["provider"]["name"], closed["step"], closed["outcome"]) == (
        "Bravo", "transcode:pcmu", "passed",
    )  # fmt: skip
    assert closed["packets"] == sent["packets"] > 0
    seen_by_b = story.call("GET", f"/v1/subcontracts/{closed['id']}", story.b["token"])
    assert (seen_by_b["packets"], seen_by_b["status"]) == (sent["packets"], "completed")
    assert seen_by_b["rating"]["satisfied"] is True
    amount = (Decimal("2.50") * sent["packets"] / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert closed["amount"] == str(amount)

    # The server's scheduler charges A's card and pays Bravo.
    def charged() -> dict[str, Any]:
        return dict(story.call("GET", f"/v1/contracts/{closed['id']}/charges", story.a["token"]))

    wait_until(lambda: charged()["charges"][0]["status"] == "succeeded", "the charge", 30)
    charges = charged()
    assert [(c["payer_id"], c["amount"]) for c in charges["charges"]] == [
        (story.a["id"], str(amount))
    ]
    assert [(p["provider_id"], p["amount"]) for p in charges["payouts"]] == [
        (story.b["id"], str(amount))
    ]
    # The recipient sees that the step went to Bravo, not the price.
    parent = story.call("GET", f"/v1/contracts/{contract_id}", story.recipient["token"])
    assert [(s["provider"]["name"], s["packets"]) for s in parent["subcontracts"]] == [
        ("Bravo", sent["packets"])
    ]
    assert "amount" not in parent["subcontracts"][0]


def test_a_dead_node_is_rated_negatively_and_the_next_covers_exactly_its_packets(
    story: Story,
) -> None:
    _, bravo = story.node(story.b, "1.00")  # the cheapest: asked first
    story.node(story.c, "3.00")
    story.offer_dtmf()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)
    contract_id = story.contract(story.b, story.c)
    bravo.send_signal(signal.SIGTERM)
    bravo.wait(timeout=30)

    report_path = story.tmp / "report.json"
    done = story.process(contract_id, "--report", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    (sent,) = report["subcontracted"]
    assert sent["provider"] == "Charlie" and report["packets_out"] == 1330
    subs = {s["provider"]["name"]: s for s in report["contract"]["subcontracts"]}
    assert (subs["Bravo"]["outcome"], subs["Bravo"]["packets"]) == ("dead_node", 0)
    assert (subs["Charlie"]["outcome"], subs["Charlie"]["packets"]) == ("passed", sent["packets"])
    amount = (Decimal("3.00") * sent["packets"] / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert subs["Charlie"]["amount"] == str(amount)
    seen_by_b = story.call("GET", f"/v1/subcontracts/{subs['Bravo']['id']}", story.b["token"])
    assert seen_by_b["rating"]["satisfied"] is False
    offers = story.call("GET", "/v1/providers?capability=transcode", story.a["token"])["items"]
    reputation = {o["provider"]["name"]: o["provider"]["reputation"] for o in offers}
    assert (reputation["Bravo"]["negative"], reputation["Charlie"]["positive"]) == (1.0, 1.0)
