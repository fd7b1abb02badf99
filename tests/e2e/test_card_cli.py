"""`commex card` as a user runs it, against `commex serve` in a subprocess, on the built-in test
gateway and on the Stripe gateway (a real localstripe): the number and CVC are read without
being arguments, and never printed back."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from serve_support import commex_server, run_commex

from support.databases import MigratedTemplates

VISA = "4242 4242 4242 4242"
_SIGNED_UP = itertools.count(1)


@pytest.fixture(scope="module", params=["test", "stripe"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: MigratedTemplates,
) -> Iterator[str]:
    """`commex serve` over a fresh SQLite file with the gateway of the parameter; its URL once
    healthy. The tests of this file share it: each makes its own accounts, and no one sees
    another's cards."""
    data_dir = tmp_path_factory.mktemp(f"cards-{request.param}")
    migrated_templates.sqlite_file(data_dir / "commex.db")
    env = {"COMMEX_PAYMENT_GATEWAY": request.param}
    if request.param == "stripe":
        env["COMMEX_STRIPE_API_KEY"] = "sk_test_commex"
        env["COMMEX_STRIPE_API_BASE"] = request.getfixturevalue("localstripe_url")
    with commex_server(data_dir, env) as url:
        yield url


def account(url: str, name: str, role: str) -> str:
    """A new account's token; the name gets a number, as names are unique on the server."""
    body = {"name": f"{name} {next(_SIGNED_UP)}", "roles": [role]}
    r = httpx.post(f"{url}/v1/accounts", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def commex(
    *args: str, token: str, exchange: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_commex(*args, token=token, exchange=exchange, stdin=stdin)


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
            "error (card.number): card.number has a wrong check digit",
        ),
        (
            ("--exp", "12/2030"),
            "0000 0000 0000 0000\n123\n",
            2,
            "error (card.number): card.number cannot start with 0: no card's does\n",
        ),
        (("--exp", "13/2030"), f"{VISA}\n123\n", 2, "error (card.exp_month): card.exp_month"),
        (("--exp", "2030-12"), f"{VISA}\n123\n", 2, "error (exp): --exp must look like 12/2030"),
        (
            ("--exp", "4242 4242 4242 4242"),
            f"{VISA}\n123\n",
            2,
            "error (exp): --exp must look like 12/2030 (month/year)\n",
        ),
        (("--exp", "4242424242424242/2030"), f"{VISA}\n123\n", 2, "error (exp): --exp must"),
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
    assert "0000 0000" not in done.stderr and "4242 4242" not in done.stderr


def test_a_stranger_is_refused_another_accounts_card(server):
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
