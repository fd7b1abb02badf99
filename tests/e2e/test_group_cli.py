"""`commex group` and `commex billing` as a user runs them, against `commex serve` in a
subprocess: a group forms and opens its auction from the command line, the server's scheduler
charges the payers at award, and the charges show on the command line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import commex_server, run_commex

from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.services.commands import Register
from commex.settings import Settings

GOOD = "4242424242424242"


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    """`commex serve` (its closing and charging scheduler included) over a fresh SQLite file."""
    with commex_server(data_dir) as url:
        yield url


def commex(*args: str, token: str = "", exchange: str = "", data_dir: Path | None = None) -> Any:
    return run_commex(*args, token=token, exchange=exchange, data_dir=data_dir)


def as_json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_group_buys_from_the_command_line_and_is_charged_by_the_scheduler(
    server: str, tmp_path: Path
) -> None:
    services = build_services(Settings(tmp_path), hasher=Argon2Hasher(time_cost=1, memory_kib=1024))
    operator = services.bus.handle(Register("Op", ("operator",), operator=True)).token
    services.shutdown()
    people: dict[str, dict[str, str]] = {}
    with httpx.Client(base_url=server, timeout=10) as http:
        for name, role in (("Ann", "recipient"), ("Bob", "recipient"), ("Seller", "provider")):
            r = http.post("/v1/accounts", json={"name": name, "roles": [role]})
            assert r.status_code == 201, r.text
            people[name] = r.json()
        for name in ("Ann", "Bob"):
            card = {"number": GOOD, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
            auth = {"Authorization": f"Bearer {people[name]['token']}"}
            assert http.post("/v1/payment-methods", json=card, headers=auth).status_code == 201
    ann, bob = people["Ann"]["token"], people["Bob"]["token"]

    group = as_json(commex("group", "create", "Quay Flats", "--pledge", "60.00", "--json",
                           token=ann, exchange=server))  # fmt: skip
    gid = group["id"]
    as_json(
        commex("group", "invite", gid, people["Bob"]["id"], "--json", token=ann, exchange=server)
    )
    joined = as_json(commex("group", "join", gid, "--pledge", "40.00", "--json",
                            token=bob, exchange=server))  # fmt: skip
    assert joined["ceiling"] == "100.00"
    both = commex("group", "join", gid, "--non-payer", "--leave", token=bob, exchange=server)
    assert both.returncode == 2
    assert "give exactly one of --pledge, --non-payer, --decline or --leave" in both.stderr
    too_high = commex("group", "auction", gid, "--title", "Flat voice", "--duration", "3600",
                      "--ceiling", "100.01", token=ann, exchange=server)  # fmt: skip
    assert too_high.returncode == 2 and "above what the payers pledged, 100.00" in too_high.stderr
    auction = as_json(commex("group", "auction", gid, "--title", "Flat voice", "--duration",
                             "3600", "--json", token=ann, exchange=server))  # fmt: skip
    assert auction["reserve"] == "100.00" and auction["group"]["id"] == gid

    with httpx.Client(base_url=server, timeout=10) as http:
        seller = {"Authorization": f"Bearer {people['Seller']['token']}"}
        r = http.post(
            f"/v1/auctions/{auction['id']}/bids", json={"amount": "80.00"}, headers=seller
        )
        assert r.status_code == 201, r.text
        op = {"Authorization": f"Bearer {operator}"}
        r = http.post(f"/v1/auctions/{auction['id']}/close", json={"reason": "test"}, headers=op)
        assert r.status_code == 200, r.text

    deadline = time.monotonic() + 30  # the server's scheduler charges within a second or so
    while True:
        mine = as_json(commex("billing", "charges", "--json", token=ann, exchange=server))["items"]
        if mine and mine[0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, f"not charged: {mine}"
        time.sleep(0.2)
    assert mine[0]["amount"] == "48.00"

    shown = commex("group", "show", gid, token=bob, exchange=server)
    assert shown.returncode == 0, shown.stderr
    assert "Ann pays 48.00 (succeeded)" in shown.stdout
    assert "Bob pays 32.00 (succeeded)" in shown.stdout
    contract_id = mine[0]["contract_id"]
    retried = as_json(commex("billing", "retry", contract_id, "--json", token=bob, exchange=server))
    assert [c["status"] for c in retried["items"]] == ["succeeded"]
    nothing = commex("operator", "charge-due", data_dir=tmp_path)
    assert nothing.returncode == 0 and "no charge was due" in nothing.stdout, nothing.stderr
