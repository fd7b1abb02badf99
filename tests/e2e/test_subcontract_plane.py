"""The contract drives the plane, and the plane subcontracts on the exchange (S5, S10), with
real processes: `commex serve`, two subcontractors' `commex node serve` and provider A's
`commex stream process --contract`.

A recipient buys ``transcode:pcmu, dtmf`` from A, approving A and Bravo only. A does dtmf;
Bravo and Charlie (cheaper, not approved) publish transcoding. A's run takes its steps from the
contract, opens a subcontract with Bravo, sends the work with the subcontract's work token (no
node secret shared across providers), and closes it with its check; Bravo's node checked the
work with its node key and metered the packets; the server's scheduler charges A and pays
Bravo exactly for those packets.

In the failover story a forwarder stands between the plane and Bravo's node (published as
Bravo's node URL), so that the test decides the moment Bravo's node is killed: after it has
answered two requests, with the run in progress.
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
import numpy as np
import pytest
from live_support import Plane, Receiver, send_at_pace, synthetic_calls
from serve_support import EXE, answers, free_port, wait_until

from commex.stream.pcap import read_capture
from commex.stream.steps.g711 import AUDIO_PTS
from support.forwarder import Forwarded, Forwarder
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

    def node(
        self, who: dict[str, str], price: str, front: Forwarder | None = None
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """``who``'s transcoding node, published on the exchange (at ``front``'s URL when
        given: a forwarder in front of it), with a node key of its own."""
        key = self.call("POST", "/v1/providers/me/node-keys", who["token"], json={"name": "n1"})
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        public = url
        if front is not None:
            front.forward_to(url)
            public = front.url
        proc = self.launch(
            "node", "serve", "--capabilities", "transcode", "--port", str(port),
            "--exchange", self.url, "--price", price, "--public-url", public,
            COMMEX_TOKEN=who["token"], COMMEX_NODE_KEY=key["key"],
        )  # fmt: skip
        wait_until(lambda: answers(f"{url}/v1/node"), "a node")  # answers 401: it is up
        return url, proc

    def contract(self, *approved: dict[str, str], recipient: dict[str, str] | None = None) -> str:
        """The recipient's reverse auction for ``STEPS``, approving A and ``approved``, won by
        A, who offers dtmf and has a card unless told otherwise."""
        terms = {"service": "stream-processing", "duration_s": 3600, "steps": STEPS}
        closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        ids = [self.a["id"], *(p["id"] for p in approved)]
        auction = self.call(
            "POST", "/v1/auctions", (recipient or self.recipient)["token"],
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
        return self.stream("--contract", contract_id, "--capabilities", "dtmf", *args)

    def stream(self, *args: str, out: str = "out.pcap") -> subprocess.CompletedProcess[str]:
        """`commex stream process` of the capture as provider A, into ``out``."""
        return subprocess.run(
            [EXE, "stream", "process", str(FAX), "--out", str(self.tmp / out), "--quiet", *args],
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


@pytest.fixture
def fronts() -> Iterator[list[Forwarder]]:
    """Forwarders the test puts in front of nodes, closed after it."""
    made: list[Forwarder] = []
    try:
        yield made
    finally:
        for front in made:
            front.close()


def test_a_node_killed_mid_run_is_rated_negatively_and_the_next_covers_exactly_its_packets(
    story: Story, fronts: list[Forwarder]
) -> None:
    """Bravo's node answers A's first two requests; as the third arrives it is killed
    (SIGKILL: it cannot say another word), with the run in progress. The rest of the work
    fails over to Charlie."""
    bravo: list[subprocess.Popen[bytes]] = []

    def kill(answered: list[Forwarded]) -> None:
        # The node reports its meter every second: let the exchange show what it answered
        # (so the charge is exact), then kill it.
        sid, done = answered[0].subcontract, sum(len(f.rows) for f in answered)
        seen = lambda: story.call("GET", f"/v1/subcontracts/{sid}", story.b["token"])  # noqa: E731
        wait_until(lambda: seen()["packets"] == done, "Bravo's node to report its packets", 30)
        bravo[0].send_signal(signal.SIGKILL)
        bravo[0].wait(timeout=30)

    front_b, front_c = Forwarder(through=2, dying=kill), Forwarder()
    fronts += [front_b, front_c]
    bravo.append(story.node(story.b, "1.00", front_b)[1])  # the cheaper: asked first
    story.node(story.c, "3.00", front_c)
    story.offer_dtmf()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)
    contract_id = story.contract(story.b, story.c)

    report_path = story.tmp / "report.json"
    done = story.process(contract_id, "--group-packets", "200", "--report", str(report_path))
    assert done.returncode == 0, done.stderr
    assert front_b.errors == [] and bravo[0].returncode == -signal.SIGKILL
    assert len(front_b.answered) == 2 and front_b.dropped  # killed in the middle

    # The output is complete and right: what the same steps give done here, every packet once,
    # in order, the audio PCMU as bought.
    local = story.stream("--step", "transcode:pcmu", "--step", "dtmf",
                         "--capabilities", "transcode,dtmf", out="local.pcap")  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert (story.tmp / "out.pcap").read_bytes() == (story.tmp / "local.pcap").read_bytes()
    source, written = read_capture(FAX).batch, read_capture(story.tmp / "out.pcap").batch
    audio = np.isin(source.payload_type, AUDIO_PTS)
    assert len(written) == len(source) == 1330
    assert np.all(written.payload_type[audio] == 0)
    assert np.array_equal(written.payload_type[~audio], source.payload_type[~audio])
    for column in ("ssrc", "seq", "timestamp"):  # each packet once, in the capture's order
        assert np.array_equal(getattr(written, column), getattr(source, column)), column

    # Bravo's answers and Charlie's cover every packet that needed the step, none twice.
    by_b, by_c = front_b.rows(), front_c.rows()
    assert len(by_b) > 0 and len(by_c) > 0
    together = np.concatenate([by_b, by_c])
    assert np.array_equal(np.sort(together), np.sort(source.index[audio]))  # none twice
    report = json.loads(report_path.read_text())
    assert {s["provider"]: s["packets"] for s in report["subcontracted"]} == {
        "Bravo": len(by_b), "Charlie": len(by_c),
    }  # fmt: skip

    # Bravo: dead_node, rated negatively, charged for what it metered before it died (what it
    # answered), less than the plane sent it; Charlie: passed, exactly the packets it did.
    subs = {s["provider"]["name"]: s for s in report["contract"]["subcontracts"]}
    assert (subs["Bravo"]["outcome"], subs["Bravo"]["packets"]) == ("dead_node", len(by_b))
    assert (subs["Charlie"]["outcome"], subs["Charlie"]["packets"]) == ("passed", len(by_c))
    price = {"Bravo": Decimal("1.00"), "Charlie": Decimal("3.00")}
    amount = {
        name: (price[name] * n / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
        for name, n in (("Bravo", len(by_b)), ("Charlie", len(by_c)))
    }
    assert {name: s["amount"] for name, s in subs.items()} == {
        name: str(a) for name, a in amount.items()
    }
    # The exchange settled Bravo on what it metered: what it answered. The plane said it sent
    # Bravo that and the requests that reached Bravo's address unanswered (those that found
    # the address refusing connections were never sent, and are not counted).
    settled = {name: _closing(story, s["id"]) for name, s in subs.items()}
    unanswered = len(front_b.rows(dropped=True))
    assert settled["Bravo"] == {
        "metered": len(by_b), "packets": len(by_b), "sent": len(by_b) + unanswered,
    }  # fmt: skip
    assert settled["Charlie"] == dict.fromkeys(("metered", "packets", "sent"), len(by_c))
    for name, who in (("Bravo", story.b), ("Charlie", story.c)):
        seen = story.call("GET", f"/v1/subcontracts/{subs[name]['id']}", who["token"])
        assert seen["rating"]["satisfied"] is (name == "Charlie")
    offers = story.call("GET", "/v1/providers?capability=transcode", story.a["token"])["items"]
    reputation = {o["provider"]["name"]: o["provider"]["reputation"] for o in offers}
    assert (reputation["Bravo"]["negative"], reputation["Charlie"]["positive"]) == (1.0, 1.0)

    # The server's scheduler charges A for both, and pays each exactly its amount.
    def charges(name: str) -> dict[str, Any]:
        path = f"/v1/contracts/{subs[name]['id']}/charges"
        return dict(story.call("GET", path, story.a["token"]))

    for name, who in (("Bravo", story.b), ("Charlie", story.c)):
        wait_until(lambda n=name: charges(n)["charges"][0]["status"] == "succeeded",
                   f"the charge for {name}", 30)  # fmt: skip
        paid = charges(name)
        assert [c["amount"] for c in paid["charges"]] == [str(amount[name])]
        assert [(p["provider_id"], p["amount"]) for p in paid["payouts"]] == [
            (who["id"], str(amount[name]))
        ]


def _closing(story: Story, subcontract_id: str) -> dict[str, Any]:
    """What the audit trail keeps of a subcontract's close: the packets metered, the packets
    the plane said it sent, and the packets settled (charged)."""
    trail = story.call("GET", f"/v1/audit?subject={subcontract_id}", story.a["token"])
    (closing,) = [e for e in trail["items"] if e["action"] == "subcontract.closed"]
    return {k: int(closing["detail"][k]) for k in ("metered", "sent", "packets")}


def test_content_segments_send_only_audio_to_the_paid_transcoder_and_show_each_class_cost(
    story: Story,
) -> None:
    story.node(story.b, "2.50")
    story.offer_dtmf()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)
    contract_id = story.contract(story.b)
    report_path = story.tmp / "report.json"
    done = story.process(contract_id, "--segment", "content", "--report", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    classes = report["contract"]["classes"]
    assert sum(c["packets"] for c in classes.values()) == report["packets_in"] == 1330
    for kind in ("telephone-event", "comfort-noise"):  # read and relayed, never paid for
        assert classes[kind]["packets"] > 0
        assert (classes[kind]["subcontracted"]["transcode:pcmu"], classes[kind]["cost"]) == (0, "0")
    audio = {k: classes[k]["subcontracted"]["transcode:pcmu"] for k in ("speech", "silence")}
    assert audio == {
        "speech": classes["speech"]["packets"],
        "silence": classes["silence"]["packets"],
    }
    for kind, packets in audio.items():
        assert Decimal(classes[kind]["cost"]) == Decimal("2.50") * packets / 1000
    (closed,) = report["contract"]["subcontracts"]
    assert closed["packets"] == sum(audio.values()) == 1163
    total = sum(Decimal(c["cost"]) for c in classes.values())
    assert closed["amount"] == str(total.quantize(Decimal("0.01"), ROUND_HALF_UP))
    assert "content classes" in done.stdout


def test_two_recipients_streams_in_one_run_are_grouped_once_and_metered_each_exactly(
    story: Story,
) -> None:
    """One capture, two calls: the clinic's (SSRC 0x0eaf0eaf) and the school's (0x17d90134),
    each under its own contract with A. Their audio goes to Bravo in one shared request, sent
    in one part per contract under that contract's subcontract."""
    story.node(story.b, "2.50")
    story.offer_dtmf()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)
    school = story.account("Valley School", "recipient")
    clinic_cid, school_cid = story.contract(story.b), story.contract(story.b, recipient=school)
    report_path = story.tmp / "report.json"
    done = story.process(
        clinic_cid + "=0x0eaf0eaf", "--contract", school_cid + "=0x17d90134",
        "--report", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["packets_in"] == report["packets_out"] == 1330
    (sent,) = report["subcontracted"]
    assert (sent["provider"], sent["segments"], sent["packets"]) == ("Bravo", 1, 1163)  # one group
    streams = {s["ssrc"]: s for s in report["streams"]}
    parents = {c["contract_id"]: c for c in report["contract"]["contracts"]}
    for cid, ssrc, audio in ((clinic_cid, 0x0EAF0EAF, 158), (school_cid, 0x17D90134, 1005)):
        parent = parents[cid]
        (sub,) = parent["subcontracts"]  # its own subcontract, for its own audio packets
        assert (sub["provider"]["name"], sub["packets"], sub["outcome"]) == (
            "Bravo",
            audio,
            "passed",
        )
        amount = (Decimal("2.50") * audio / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert sub["amount"] == str(amount)
        # Each parent is metered on its own stream only.
        usage = story.call("GET", f"/v1/contracts/{cid}/usage", story.a["token"])
        (delivery,) = usage["deliveries"]
        assert delivery["packets"] == streams[ssrc]["packets_out"]
        seen = story.call("GET", f"/v1/contracts/{cid}", story.a["token"])
        assert [(s["packets"], s["status"]) for s in seen["subcontracts"]] == [(audio, "completed")]
    assert sum(streams[s]["packets_out"] for s in streams) == 1330


@pytest.mark.serial  # Bravo's answers must beat the live playout's deadline ("passed", not "late")
def test_two_recipients_live_calls_share_one_run_each_metered_as_it_goes_a_stray_refused(
    story: Story,
) -> None:
    """Live input: the clinic's call (SSRC 0xca10) and the school's (0xca11) under their own
    contracts with A, and a third sender nobody contracted for (0xca12)."""
    story.node(story.b, "2.50")
    story.offer_dtmf()
    story.call("POST", "/v1/payment-methods", story.a["token"], json=VISA)
    school = story.account("Valley School", "recipient")
    clinic_cid, school_cid = story.contract(story.b), story.contract(story.b, recipient=school)
    calls = synthetic_calls(3, 3.0, first_ssrc=0xCA10)  # 150 packets each, 20 ms apart
    receiver = Receiver()
    plane = Plane(
        receiver.port, story.tmp, "--contract", f"{clinic_cid}=0xca10",
        "--contract", f"{school_cid}=0xCA11", "--capabilities", "dtmf",
        "--meter-every", "1", "--idle-timeout", "1",
        "--playout-delay", "400",  # Bravo's answers in time on a busy machine: "passed"
        COMMEX_TOKEN=story.a["token"], COMMEX_EXCHANGE_URL=story.url,
    )  # fmt: skip
    try:
        send_at_pace(calls, [plane.port])
        report = plane.finish()
    finally:
        plane.kill()
        receiver.close()
    out = [p for _, p in receiver.rtp()]
    assert sorted({p.ssrc for p in out}) == [0xCA10, 0xCA11]  # the stray went nowhere
    assert len(out) == 300 and {p.payload_type for p in out} == {0}  # transcoded to PCMU
    assert report["refused"] == 150 and report["packets_in"] == 300
    warned = [line for line in plane.stderr if "0x0000ca12" in line]
    assert len(warned) == 1 and "belongs to none of the --contract" in warned[0]
    parents = {c["contract_id"]: c for c in report["contract"]["contracts"]}
    for cid in (clinic_cid, school_cid):
        usage = story.call("GET", f"/v1/contracts/{cid}/usage", story.a["token"])
        deliveries = usage["deliveries"]
        # Reported as the call went (every stream-second), and every packet counted once.
        assert len(deliveries) >= 2 and parents[cid]["deliveries"] == len(deliveries)
        assert sum(d["packets"] for d in deliveries) == 150
        assert usage["used_seconds"] == pytest.approx(2.98, abs=0.05)
        (sub,) = parents[cid]["subcontracts"]  # its own subcontract, for its own packets
        assert (sub["provider"]["name"], sub["packets"], sub["outcome"]) == ("Bravo", 150, "passed")
