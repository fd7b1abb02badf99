"""The command line as a user runs it: tables by default, --json for scripts, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commex.adapters.sql.migrate import head
from commex.cli.registry import build_app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"COMMEX_DATA_DIR": str(tmp_path), "COMMEX_DATABASE_URL": "", "COLUMNS": "200"}


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(build_app(), list(args), env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def run_json(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run(env, *args, "--json"))


def test_db_upgrade_then_status(env: dict[str, str]) -> None:
    assert "upgraded from empty to revision" in run(env, "db", "upgrade")
    assert "already at revision" in run(env, "db", "upgrade")
    newest = head()
    assert f"database revision: {newest}; newest: {newest}" in run(env, "db", "status")


def test_a_forward_auction_from_the_command_line(env: dict[str, str]) -> None:
    seller = run_json(env, "account", "create", "Northwind", "--role", "provider")["id"]
    alice = run_json(env, "account", "create", "Alice", "--role", "recipient")["id"]
    bob = run_json(env, "account", "create", "Bob", "--role", "recipient")["id"]
    created = run_json(
        env, "auction", "create", "--as", seller, "--title", "500 minutes",
        "--duration", "30000", "--format", "first-price", "--closes-in", "1h", "--reserve", "4.00",
    )  # fmt: skip
    aid = created["id"]
    assert created["status"] == "open"
    assert created["reserve"] == "4.00"  # the owner sees its reserve

    bid = run_json(env, "auction", "bid", aid, "7.50", "--as", alice)
    assert bid["amount"] == "7.50"
    run(env, "auction", "bid", aid, "6.00", "--as", bob)

    # Sealed: Bob sees his own bid and the count, not Alice's, nor the reserve.
    shown = run_json(env, "auction", "show", aid, "--as", bob)
    assert shown["bid_count"] == 2
    assert [b["amount"] for b in shown["bids"]] == ["6.00"]
    assert "reserve" not in shown
    table = run(env, "auction", "show", aid, "--as", bob)
    assert "6.00" in table and "7.50" not in table and "no ratings yet" in table

    listed = run_json(env, "auction", "list", "--status", "open")["items"]
    assert [a["id"] for a in listed] == [aid]
    assert "Northwind" in run(env, "auction", "list")

    # The owner may not close before the close time; the error says why, exit code 6.
    err = run(env, "auction", "close", aid, "--as", seller, code=6)
    assert "only the operator may close it early" in err


def test_close_due_closes_what_is_due(env: dict[str, str]) -> None:
    seller = run_json(env, "account", "create", "S", "--role", "provider")["id"]
    buyer = run_json(env, "account", "create", "B", "--role", "recipient")["id"]
    aid = run_json(
        env, "auction", "create", "--as", seller, "--title", "t", "--duration", "60",
        "--closes-in", "1s",
    )["id"]  # fmt: skip
    deadline = time.monotonic() + 10
    # The close time is one second out; poll until it has passed (a condition, not a sleep).
    out = ""
    while time.monotonic() < deadline:
        out = run_json(env, "auction", "close-due")["closed"]
        if out:
            break
        time.sleep(0.1)
    assert out == [aid]
    shown = run_json(env, "auction", "show", aid)
    assert shown["status"] == "closed"
    assert shown["outcome"]["winners"] == []
    assert shown["outcome"]["note"] == "no bids"
    err = run(env, "auction", "bid", aid, "1.00", "--as", buyer, code=6)
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
    env: dict[str, str], args: list[str], code: int, message: str
) -> None:
    assert message in run(env, *args, code=code)


def test_bad_auction_input_names_the_field(env: dict[str, str]) -> None:
    seller = run_json(env, "account", "create", "S", "--role", "provider")["id"]
    err = run(env, "auction", "create", "--as", seller, "--title", "t", "--duration", "0", code=2)
    assert "terms.duration_s" in err
    err = run(
        env, "auction", "create", "--as", seller, "--title", "t", "--duration", "60",
        "--reserve", "1.234", code=2,
    )  # fmt: skip
    assert "reserve" in err and "decimal places" in err
    err = run(
        env, "auction", "create", "--as", seller, "--title", "t", "--duration", "60",
        "--closes-in", "soon", code=2,
    )  # fmt: skip
    assert "closes_in" in err


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
    listed = subprocess.run(
        [str(exe), "auction", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert len(json.loads(listed.stdout)["items"]) == 2
