"""Subcontracting on a real `commex serve` (S10): the client calls a plane and a node make, the
server's scheduler charging the closed subcontract and paying the subcontractor, and the
provider's commands (`commex node-key`, `commex subcontract`) as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import commex_server, run_commex, wait_until

from commex.client import ExchangeClient
from commex.domain.errors import NotFound, Unauthenticated

VISA = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    with commex_server(data_dir, {"COMMEX_ALLOW_PRIVATE_URLS": "1"}) as url:  # loopback nodes
        yield url


def _account(url: str, name: str, role: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/accounts", json={"name": name, "roles": [role]}, timeout=10)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _call(url: str, who: dict[str, Any], method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {who['token']}"}
    r = httpx.request(method, f"{url}{path}", headers=headers, timeout=10, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def _contract(url: str, recipient: dict[str, Any], alpha: dict[str, Any]) -> str:
    """A reverse auction of the recipient's for ``transcode:pcmu``, won by Alpha and closed by
    the server's scheduler: the contract's id."""
    closes = datetime.now(UTC) + timedelta(seconds=2)
    auction = _call(url, recipient, "POST", "/v1/auctions", json={
        "direction": "reverse", "format": "first-price", "title": "Call processing",
        "terms": {"service": "stream-processing", "duration_s": 3600, "steps": ["transcode:pcmu"]},
        "currency": "EUR", "closes_at": closes.isoformat(),
    })  # fmt: skip
    _call(url, alpha, "POST", f"/v1/auctions/{auction['id']}/bids", json={"amount": "40.00"})
    found: dict[str, Any] = {}

    def closed() -> bool:
        found.update(_call(url, recipient, "GET", f"/v1/auctions/{auction['id']}"))
        return found.get("outcome") is not None

    wait_until(closed, "the scheduler to close the auction", timeout=30)
    return str(found["outcome"]["winners"][0]["contract_id"])


def test_a_subcontract_on_a_running_exchange_is_metered_charged_and_paid(server: str) -> None:
    recipient = _account(server, "Harbour Clinic", "recipient")
    alpha = _account(server, "Alpha", "provider")
    bravo = _account(server, "Bravo [blink]Media[/blink]", "provider")
    _call(server, alpha, "POST", "/v1/payment-methods", json=VISA)
    offer = {"node_url": "http://127.0.0.1:9", "capabilities": ["transcode"], "price": "2.50",
             "currency": "EUR"}  # fmt: skip
    _call(server, bravo, "PUT", "/v1/providers/me/offer", json=offer)
    parent = _contract(server, recipient, alpha)

    issued = run_commex("node-key", "issue", "rack 4", "--json", token=bravo["token"],
                        exchange=server)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)
    with (
        ExchangeClient(server, alpha["token"]) as plane,
        ExchangeClient(server, key["key"]) as node,
    ):
        sub = plane.open_subcontract(parent, bravo["id"], "transcode:pcmu")
        assert node.check_work(sub["id"], sub["work_token"])["step"] == "transcode:pcmu"
        node.meter_packets(sub["id"], "run-1", 1000)
        node.meter_packets(sub["id"], "run-2", 330)
        assert node.meter_packets(sub["id"], "run-2", 330)["repeated"] is True
        closed = plane.close_subcontract(sub["id"], "passed", 1330)
    assert (closed["packets"], closed["amount"], closed["rating"]["satisfied"]) == (
        1330,
        "3.33",
        True,
    )

    def paid() -> bool:
        found = _call(server, alpha, "GET", f"/v1/contracts/{sub['id']}/charges")
        return [c["status"] for c in found["charges"]] == ["succeeded"] and bool(found["payouts"])

    wait_until(paid, "the scheduler to charge the subcontract", timeout=30)
    payouts = _call(server, bravo, "GET", f"/v1/contracts/{sub['id']}/charges")["payouts"]
    assert [(p["provider_id"], p["amount"]) for p in payouts] == [(bravo["id"], "3.33")]

    listed = run_commex("subcontract", "list", "--json", token=bravo["token"], exchange=server)
    assert [(s["id"], s["packets"], s["amount"]) for s in json.loads(listed.stdout)["items"]] == [
        (sub["id"], 1330, "3.33")
    ]
    shown = run_commex("subcontract", "show", sub["id"], token=alpha["token"], exchange=server)
    assert shown.returncode == 0, shown.stderr
    assert "from Alpha to Bravo [blink]Media[/blink]" in shown.stdout  # markup shown, not obeyed
    assert "1330 packets, 3.33 EUR (2.50 per 1,000), completed" in shown.stdout
    assert "check: passed" in shown.stdout
    assert "succeeded" in shown.stdout
    refused = run_commex("subcontract", "show", sub["id"], token=recipient["token"],
                         exchange=server)  # fmt: skip
    assert refused.returncode == 3
    assert refused.stderr.strip() == f"error: subcontract {sub['id']} not found"


def test_a_node_key_is_listed_without_itself_and_dies_when_revoked(server: str) -> None:
    bravo = _account(server, "Bravo", "provider")
    issued = run_commex("node-key", "issue", "rack 4", token=bravo["token"], exchange=server)
    assert issued.returncode == 0, issued.stderr
    key = next(word for word in issued.stdout.split() if word.startswith("cxn_"))
    assert "shown this once" in issued.stderr
    listed = run_commex("node-key", "list", "--json", token=bravo["token"], exchange=server)
    items = json.loads(listed.stdout)["items"]
    assert [(k["name"], k["hint"], k["revoked_at"]) for k in items] == [
        ("rack 4", f"...{key[-4:]}", None)
    ]
    assert key not in listed.stdout
    with ExchangeClient(server, key) as node, pytest.raises(NotFound):
        node.check_work("con_nothing", "cxw_x")  # the key works: the subcontract does not exist
    revoked = run_commex("node-key", "revoke", items[0]["id"], token=bravo["token"],
                         exchange=server)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {items[0]['id']} (rack 4)"
    with ExchangeClient(server, key) as node, pytest.raises(Unauthenticated) as err:
        node.check_work("con_nothing", "cxw_x")
    assert err.value.message == "that node key is unknown or revoked"
    recipient = _account(server, "Clinic", "recipient")
    done = run_commex("node-key", "issue", "x", token=recipient["token"], exchange=server)
    assert done.returncode == 4
    assert done.stderr.strip() == "error: only a provider runs processing nodes"
