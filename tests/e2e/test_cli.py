"""The command line as a user runs it: tables by default, --json for scripts, clear errors.

One way in: every command acting as an account talks to the exchange over HTTP with that
account's token (COMMEX_TOKEN, or a profile saved by `commex login`); only the administrator's
commands (db, operator, serve, demo) open the database file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import commex_server
from typer.testing import CliRunner

from commex.adapters.sql.migrate import head
from commex.bootstrap import build_services
from commex.cli.registry import build_app
from commex.settings import Settings
from support.serving import serving
from support.worlds import FAST_HASHER

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: the database file the administrator's commands open, and a
    configuration directory of its own (for profiles)."""
    return {
        "COMMEX_DATA_DIR": str(tmp_path),
        "COMMEX_DATABASE_URL": "",
        "COMMEX_CONFIG_DIR": str(tmp_path / "config"),
        "COMMEX_TOKEN": "",
        "COMMEX_PROFILE": "",
        "COLUMNS": "200",
    }


@pytest.fixture
def exchange(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The exchange served from the same database file (its scheduler off: the operator's
    ``close-due`` closes), known to the commands as COMMEX_EXCHANGE."""
    services = build_services(Settings(tmp_path), hasher=FAST_HASHER)
    try:
        with serving(services, scheduler=False) as url:
            env["COMMEX_EXCHANGE"] = url
            yield url
    finally:
        services.shutdown()


def run(env: dict[str, str], *args: str, code: int = 0, token: str = "", stdin: str = "") -> str:
    result = runner.invoke(build_app(), list(args), env=env | {"COMMEX_TOKEN": token}, input=stdin)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def run_json(env: dict[str, str], *args: str, token: str = "") -> dict:  # type: ignore[type-arg]
    return json.loads(run(env, *args, "--json", token=token))


def account(env: dict[str, str], name: str, role: str) -> tuple[str, str]:
    """A new account opened from the command line: its id and its token."""
    opened = run_json(env, "account", "create", name, "--role", role)
    return opened["id"], opened["token"]


def test_db_upgrade_then_status(env: dict[str, str]) -> None:
    assert "upgraded from empty to revision" in run(env, "db", "upgrade")
    assert "already at revision" in run(env, "db", "upgrade")
    newest = head()
    assert f"database revision: {newest}; newest: {newest}" in run(env, "db", "status")


def test_a_forward_auction_from_the_command_line(env: dict[str, str], exchange: str) -> None:
    seller_id, seller = account(env, "Northwind", "provider")
    alice_id, alice = account(env, "Alice", "recipient")
    _, bob = account(env, "Bob", "recipient")
    created = run_json(
        env, "auction", "create", "--title", "500 minutes", "--duration", "30000",
        "--format", "first-price", "--closes-in", "1h", "--reserve", "4.00", token=seller,
    )  # fmt: skip
    aid = created["id"]
    assert created["status"] == "open"
    assert created["owner"]["id"] == seller_id
    assert created["reserve"] == "4.00"  # the owner sees its reserve

    bid = run_json(env, "auction", "bid", aid, "7.50", token=alice)
    assert bid["amount"] == "7.50" and bid["bidder"]["id"] == alice_id
    run(env, "auction", "bid", aid, "6.00", token=bob)

    # Sealed: Bob sees his own bid and the count, not Alice's, nor the reserve.
    shown = run_json(env, "auction", "show", aid, token=bob)
    assert shown["bid_count"] == 2
    assert [b["amount"] for b in shown["bids"]] == ["6.00"]
    assert "reserve" not in shown
    table = run(env, "auction", "show", aid, token=bob)
    assert "6.00" in table and "7.50" not in table and "no ratings yet" in table

    listed = run_json(env, "auction", "list", "--status", "open", token=bob)["items"]
    assert [a["id"] for a in listed] == [aid]
    assert "Northwind" in run(env, "auction", "list", token=bob)

    # The owner may not close before the close time; the error says why, exit code 6.
    err = run(env, "auction", "close", aid, code=6, token=seller)
    assert "only the operator may close it early" in err


def test_the_operator_closes_what_is_due_from_cron(env: dict[str, str], exchange: str) -> None:
    _, seller = account(env, "S", "provider")
    _, buyer = account(env, "B", "recipient")
    aid = run_json(
        env, "auction", "create", "--title", "t", "--duration", "60", "--closes-in", "1s",
        token=seller,
    )["id"]  # fmt: skip
    deadline = time.monotonic() + 10
    # The close time is one second out; poll until it has passed (a condition, not a sleep).
    out = ""
    while time.monotonic() < deadline:
        out = run_json(env, "operator", "close-due")["closed"]
        if out:
            break
        time.sleep(0.1)
    assert out == [aid]
    shown = run_json(env, "auction", "show", aid, token=buyer)
    assert shown["status"] == "closed"
    assert shown["outcome"]["winners"] == []
    assert shown["outcome"]["note"] == "no bids"
    err = run(env, "auction", "bid", aid, "1.00", code=6, token=buyer)
    assert "takes no more bids" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["auction", "show", "auc_nope"], 3, "auction auc_nope not found"),
        (["account", "create", "X", "--role", "operator"], 2, "operator role"),
        (["account", "create", "X", "--role", "pirate"], 2, "unknown role"),
        (["auction", "list", "--status", "maybe"], 2, "status must be"),
    ],
)
def test_bad_input_is_one_clear_line_and_an_exit_code(
    env: dict[str, str], exchange: str, args: list[str], code: int, message: str
) -> None:
    _, token = account(env, "Viewer", "recipient")
    assert message in run(env, *args, code=code, token=token)


def test_bad_auction_input_names_the_field(env: dict[str, str], exchange: str) -> None:
    _, seller = account(env, "S", "provider")
    base = ["auction", "create", "--title", "t"]
    err = run(env, *base, "--duration", "0", code=2, token=seller)
    assert "terms.duration_s" in err
    err = run(env, *base, "--duration", "60", "--reserve", "1.234", code=2, token=seller)
    assert "reserve" in err and "decimal places" in err
    err = run(env, *base, "--duration", "60", "--closes-in", "soon", code=2, token=seller)
    assert "closes_in" in err


def test_commands_acting_as_an_account_need_its_token_and_never_open_the_database(
    env: dict[str, str], exchange: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "no-database-here"
    away = env | {"COMMEX_DATA_DIR": str(elsewhere)}
    err = run(away, "auction", "list", code=5)
    assert "set COMMEX_TOKEN" in err and "commex login" in err
    _, token = account(away, "Harbour", "recipient")
    assert "no auctions" not in run(away, "auction", "list", token=token)
    err = run(away, "auction", "list", code=5, token="cx_not-a-token")
    assert "a valid bearer token is required" in err
    assert not elsewhere.exists()  # nothing was opened, or made, where the database would be
    err = run(env | {"COMMEX_EXCHANGE": ""}, "auction", "list", code=2, token=token)
    assert "which exchange?" in err


def test_login_saves_a_profile_that_later_commands_use(
    env: dict[str, str], exchange: str, tmp_path: Path
) -> None:
    seller_id, seller = account(env, "Northwind", "provider")
    err = run(env, "login", code=5, stdin="cx_not-a-token\n")
    assert "a valid bearer token is required" in err
    assert not (tmp_path / "config" / "profiles.json").exists()  # a bad token saves nothing
    said = run(env, "login", "--profile", "work", stdin=f"{seller}\n")
    assert f"as Northwind ({seller_id})" in said and "profile 'work'" in said
    profiles = tmp_path / "config" / "profiles.json"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    # Neither the token nor the exchange's address is given any more: the profile has both.
    bare = env | {"COMMEX_EXCHANGE": "", "COMMEX_PROFILE": "work"}
    created = run_json(bare, "auction", "create", "--title", "From the profile", "--duration", "60")
    assert created["owner"]["id"] == seller_id
    assert "set COMMEX_TOKEN" in run(env, "auction", "list", code=5)  # the default: none saved
    assert "profile 'work' forgotten" in run(env, "logout", "--profile", "work")
    assert "which exchange?" in run(bare, "auction", "list", code=2)
    assert "there is no profile 'work'" in run(env, "logout", "--profile", "work", code=2)


def test_demo_tells_the_story_and_the_console_script_works(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("commex")
    env = {"COMMEX_DATA_DIR": str(tmp_path), "COLUMNS": "160", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(exe), "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Forward auction" in out and "Reverse auction" in out
    assert out.count("Winner:") == 3
    assert "48.50 EUR" in out  # the uniform second price of the two forward blocks
    assert "415.00 EUR" in out  # the proxy-bid reverse english price
    with commex_server(tmp_path) as url:
        opened = httpx.post(f"{url}/v1/accounts", json={"name": "Visitor", "roles": ["recipient"]})
        token = opened.json()["token"]
        listed = subprocess.run(
            [str(exe), "auction", "list", "--json"],
            capture_output=True,
            text=True,
            env=dict(os.environ) | env | {"COMMEX_EXCHANGE": url, "COMMEX_TOKEN": token},
            timeout=60,
            check=True,
        )
    assert len(json.loads(listed.stdout)["items"]) == 2
