"""`commex card` as a user runs it, against `commex serve` in a subprocess, on the built-in test
gateway and on the Stripe gateway (a real localstripe): the number and CVC are read without
being arguments, and never printed back."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("commex"))
VISA = "4242 4242 4242 4242"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["test", "stripe"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`commex serve` over a fresh SQLite file with the gateway of the parameter; its URL once
    healthy."""
    port = _port()
    env = dict(os.environ, COMMEX_DATA_DIR=str(tmp_path), COMMEX_PAYMENT_GATEWAY=request.param)
    env.pop("COMMEX_DATABASE_URL", None)
    if request.param == "stripe":
        env["COMMEX_STRIPE_API_KEY"] = "sk_test_commex"
        env["COMMEX_STRIPE_API_BASE"] = request.getfixturevalue("localstripe_url")
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "commex serve exited"
            assert time.monotonic() < deadline, "commex serve did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def account(url: str, name: str, role: str) -> str:
    r = httpx.post(f"{url}/v1/accounts", json={"name": name, "roles": [role]}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def commex(
    *args: str, token: str, exchange: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COMMEX_TOKEN=token, COMMEX_EXCHANGE=exchange)
    env.pop("COLUMNS", None)  # the default width of a terminal: errors must fit one line
    return subprocess.run(
        [EXE, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_recipient_adds_lists_chooses_and_removes_cards(server):
    token = account(server, "Harbour Family", "recipient")
    added = commex("card", "add", "--exp", "12/2030", token=token, exchange=server,
                   stdin=f"{VISA}\n123\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("saved card_")
    assert added.stdout.rstrip().endswith("visa ending in 4242, expires 12/2030  (default)")
    assert "424242" not in added.stdout + added.stderr
    second = commex("card", "add", "--exp", "3/2031", "--json", token=token, exchange=server,
                    stdin="5555555555554444\n321\n")  # fmt: skip
    assert second.returncode == 0, second.stderr
    card = json.loads(second.stdout)
    assert (card["last4"], card["exp_month"], card["default"]) == ("4444", 3, False)

    listed = commex("card", "list", token=token, exchange=server)
    assert listed.returncode == 0, listed.stderr
    assert "ending in 4242" in listed.stdout and "ending in 4444" in listed.stdout
    assert "555555" not in listed.stdout

    chosen = commex("card", "default", card["id"], token=token, exchange=server)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == (
        f"default {card['id']}  mastercard ending in 4444, expires 03/2031  (default)"
    )
    removed = commex("card", "remove", card["id"], "--json", token=token, exchange=server)
    assert removed.returncode == 0, removed.stderr
    (left,) = json.loads(removed.stdout)["items"]
    assert (left["last4"], left["default"]) == ("4242", True)


@pytest.mark.parametrize(
    ("args", "stdin", "code", "line"),
    [
        (
            ("--exp", "12/2030"),
            "4242 4242 4242 4241\n123\n",
            2,
            "error (card.number): card.number ending in 4241 has a wrong check digit",
        ),
        (("--exp", "13/2030"), f"{VISA}\n123\n", 2, "error (card.exp_month): card.exp_month"),
        (("--exp", "2030-12"), f"{VISA}\n123\n", 2, "error (exp): --exp must look like 12/2030"),
        (("--exp", "12/2030"), f"{VISA}\n12\n", 2, "error (card.cvc): card.cvc must be 3 or 4"),
    ],
)
def test_a_bad_card_is_one_line_naming_the_field(server, args, stdin, code, line):
    token = account(server, "Harbour Family", "recipient")
    done = commex("card", "add", *args, token=token, exchange=server, stdin=stdin)
    assert done.returncode == code
    assert done.stderr.startswith(line)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "42424242" not in done.stdout + done.stderr


def test_a_provider_and_a_stranger_are_refused(server):
    carrier = account(server, "Northwind", "provider")
    done = commex("card", "add", "--exp", "12/2030", token=carrier, exchange=server,
                  stdin=f"{VISA}\n123\n")  # fmt: skip
    assert done.returncode == 4
    assert done.stderr.strip() == "error: only a recipient account saves payment cards"
    ann = account(server, "Ann", "recipient")
    mine = commex("card", "add", "--exp", "12/2030", "--json", token=ann, exchange=server,
                  stdin=f"{VISA}\n123\n")  # fmt: skip
    card_id = json.loads(mine.stdout)["id"]
    bob = account(server, "Bob", "recipient")
    done = commex("card", "remove", card_id, token=bob, exchange=server)
    assert done.returncode == 3
    assert done.stderr.strip() == f"error: payment method {card_id} not found"
    assert commex("card", "list", "--json", token=bob, exchange=server).stdout.strip() == (
        '{\n  "items": []\n}'
    )
