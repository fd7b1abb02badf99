"""`commex device` and `commex contract` as a user runs them, against `commex serve` in a
subprocess: a device rates its contract with its own token; a wrong token is one clear line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import commex_server, run_commex

from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.services.commands import Register
from commex.settings import Settings
from support.net import wait_until


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    """`commex serve` on a free port over a fresh SQLite file; its URL once healthy."""
    with commex_server(data_dir) as url:
        yield url


def commex(*args: str, token: str, exchange: str) -> subprocess.CompletedProcess[str]:
    return run_commex(*args, token=token, exchange=exchange)


def _won_contract(
    url: str, data_dir: Path, max_members: int = 1, paid: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """A contract won through the API (closed early by an operator), charged by the server's
    scheduler when ``paid``; and the parties' tokens."""
    services = build_services(Settings(data_dir), hasher=Argon2Hasher(time_cost=1, memory_kib=1024))
    operator = services.bus.handle(Register("Op", ("operator",), operator=True)).token
    services.shutdown()
    with httpx.Client(base_url=url, timeout=10) as http:
        tokens = {"operator": operator}
        for name, role in (("provider", "provider"), ("recipient", "recipient")):
            r = http.post("/v1/accounts", json={"name": name.title(), "roles": [role]})
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
        buyer = {"Authorization": f"Bearer {tokens['recipient']}"}
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        if paid:
            assert http.post("/v1/payment-methods", headers=buyer, json=card).status_code == 201
        auction = http.post(
            "/v1/auctions",
            headers={"Authorization": f"Bearer {tokens['provider']}"},
            json={
                "direction": "forward",
                "format": "first-price",
                "title": "an hour of voice",
                "terms": {"service": "voice", "duration_s": 3600, "max_members": max_members},
                "currency": "EUR",
                "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
        ).json()
        r = http.post(
            f"/v1/auctions/{auction['id']}/bids",
            headers={"Authorization": f"Bearer {tokens['recipient']}"},
            json={"amount": "12.00"},
        )
        assert r.status_code == 201, r.text
        r = http.post(
            f"/v1/auctions/{auction['id']}/close",
            headers={"Authorization": f"Bearer {operator}"},
            json={"reason": "closing early for the test"},
        )
        assert r.status_code == 200, r.text
        r = http.get("/v1/contracts", headers=buyer)
        (contract,) = r.json()["items"]

        def is_paid() -> bool:  # the server's scheduler charges it: only then do ratings count
            charges = http.get(f"/v1/contracts/{contract['id']}/charges", headers=buyer).json()
            return [c["status"] for c in charges["charges"]] == ["succeeded"]

        if paid:
            wait_until(is_paid, "the contract's charge")
    return contract, tokens


def test_a_member_device_rates_its_contract_from_the_command_line(
    server: str, tmp_path: Path
) -> None:
    contract, tokens = _won_contract(server, tmp_path, paid=True)
    cid = contract["id"]

    done = commex(
        "device", "register", "Front desk", "--user", "Alice", "--phone", "+1 415 555 0123",
        "--json", token=tokens["recipient"], exchange=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    phone = json.loads(done.stdout)
    assert phone["phone_numbers"] == ["+14155550123"]

    # Not yet a member: refused, and the exit code says forbidden.
    done = commex("device", "rate", cid, "--satisfied", token=phone["token"], exchange=server)
    assert done.returncode == 4
    assert done.stderr.strip() == "error: this device is not a member of the contract"

    done = commex(
        "contract", "add-member", cid, "--device", phone["id"],
        token=tokens["recipient"], exchange=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"device {phone['id']}" in done.stdout

    done = commex(
        "device", "rate", cid, "--satisfied", "--score", "4", "--comment", "clear all day",
        token=phone["token"], exchange=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rated provider {contract['provider_id']}: satisfied"

    done = commex(
        "contract", "rate", cid, "--not-satisfied", token=tokens["provider"], exchange=server
    )
    assert done.returncode == 0, done.stderr

    done = commex("contract", "show", cid, "--json", token=tokens["recipient"], exchange=server)
    assert done.returncode == 0, done.stderr
    ratings = {r["rated_role"]: r for r in json.loads(done.stdout)["ratings"]}
    assert ratings["provider"]["device_id"] == phone["id"]
    assert (ratings["provider"]["score"], ratings["provider"]["comment"]) == (4, "clear all day")
    assert ratings["recipient"]["satisfied"] is False

    r = httpx.get(
        f"{server}/v1/accounts/{contract['provider_id']}",
        headers={"Authorization": f"Bearer {tokens['recipient']}"},
    )
    assert r.json()["reputation"]["as_provider"]["count"] == 1

    # Rating twice from the device: a conflict, exit code 6.
    done = commex("device", "rate", cid, "--satisfied", token=phone["token"], exchange=server)
    assert (done.returncode, done.stderr.strip()) == (
        6,
        "error: you have already rated this contract",
    )


def test_a_wrong_device_token_is_one_clear_line_and_exit_code_5(
    server: str, tmp_path: Path
) -> None:
    contract, tokens = _won_contract(server, tmp_path)
    for token, message in [
        ("cxd_not-a-token-anyone-was-given", "error: a valid device token is required"),
        (
            tokens["recipient"],
            "error: COMMEX_TOKEN is no device token (cxd_...); see commex contract rate",
        ),
    ]:
        done = commex("device", "rate", contract["id"], "--satisfied", token=token, exchange=server)
        assert done.returncode == 5, done.stderr
        assert done.stdout == ""
        assert done.stderr.strip() == message
        assert len(done.stderr.strip().splitlines()) == 1
    r = httpx.get(
        f"{server}/v1/contracts/{contract['id']}",
        headers={"Authorization": f"Bearer {tokens['recipient']}"},
    )
    assert r.json()["ratings"] == []


def test_members_use_a_block_from_the_command_line_until_it_is_used_up(
    server: str, tmp_path: Path
) -> None:
    contract, tokens = _won_contract(server, tmp_path, max_members=2)
    cid, recipient, provider = contract["id"], tokens["recipient"], tokens["provider"]
    done = commex(
        "device", "register", "Softphone", "--user", "Bob", "--json",
        token=recipient, exchange=server,
    )  # fmt: skip
    phone = json.loads(done.stdout)
    members = {}
    for flag, value in (("--device", phone["id"]), ("--phone", "+442079460000")):
        done = commex(
            "contract", "add-member", cid, flag, value, "--json", token=recipient, exchange=server
        )
        assert done.returncode == 0, done.stderr
        members[flag] = json.loads(done.stdout)["id"]

    done = commex(
        "device", "report", cid, "--member", members["--device"], "--seconds", "3000",
        token=phone["token"], exchange=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted 3000 s; 600 s remain")
    done = commex(
        "contract", "report", cid, "--member", members["--phone"], "--seconds", "900",
        token=recipient, exchange=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted 600 s; 0 s remain")
    assert "not all was accepted: the block of 3600 s had 600 s left; the rest is cut" in (
        " ".join(done.stderr.split())
    )
    done = commex(
        "device", "report", cid, "--member", members["--device"], "--seconds", "1",
        token=phone["token"], exchange=server,
    )  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (
        6,
        f"error: contract {cid}: the block of 3600 s is used up",
    )

    done = commex("contract", "usage", cid, "--json", token=provider, exchange=server)
    assert done.returncode == 0, done.stderr
    usage = json.loads(done.stdout)
    assert (usage["used_seconds"], usage["remaining_seconds"]) == (3600, 0)
    shares = {m["member_id"]: m["used_seconds"] for m in usage["members"]}
    assert shares == {members["--device"]: 3000, members["--phone"]: 600}
    done = commex("contract", "usage", cid, token=recipient, exchange=server)
    assert "3600 s of 3600 s used, 0 s remain" in done.stdout
    assert "+442079460000" in done.stdout

    done = commex(
        "contract", "remove-member", cid, members["--phone"], token=recipient, exchange=server
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{members['--phone']}  phone +442079460000 removed"

    done = commex(
        "provider", "contracts", "--status", "completed", "--json", token=provider, exchange=server
    )
    assert done.returncode == 0, done.stderr
    assert [c["id"] for c in json.loads(done.stdout)["items"]] == [cid]  # its block is used up
    done = commex("provider", "capacity", "--set", "2000000", token=provider, exchange=server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "capacity: 2000000 bit/s; committed: 0 bit/s"
    done = commex("provider", "capacity", token=recipient, exchange=server)
    assert done.returncode == 0  # a recipient has declared nothing
    done = commex("provider", "capacity", "--set", "5", token=recipient, exchange=server)
    assert (done.returncode, done.stderr.strip()) == (4, "error: only a provider declares capacity")


def test_a_contract_shows_when_it_was_awarded_started_and_cancelled_and_why(
    server: str, tmp_path: Path
) -> None:
    contract, tokens = _won_contract(server, tmp_path)
    cid = contract["id"]
    done = commex("contract", "show", cid, token=tokens["recipient"], exchange=server)
    assert done.returncode == 0, done.stderr
    assert "awarded" in done.stdout and "started" in done.stdout
    assert "ended" not in done.stdout

    r = httpx.post(
        f"{server}/v1/contracts/{cid}/cancel",
        headers={"Authorization": f"Bearer {tokens['operator']}"},
        json={"reason": "provider lost its licence"},
    )
    assert r.status_code == 200, r.text
    done = commex("contract", "show", cid, token=tokens["recipient"], exchange=server)
    assert done.returncode == 0, done.stderr
    assert "cancelled" in done.stdout
    words = " ".join(done.stdout.replace("│", " ").split())  # the table's cells, read as text
    assert "by the operator: provider lost its licence" in words
