"""The marketplace from the command line, against a real server: finding auctions with
filters in human units and cursors, watching, the notification centre, and webhooks (a private
URL refused by default, with the field named)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commex.bootstrap import build_services
from commex.cli.registry import build_app
from commex.settings import Settings
from support.serving import serving
from support.worlds import FAST_HASHER

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    found = {
        "COMMEX_DATA_DIR": str(tmp_path),
        "COMMEX_DATABASE_URL": "",
        "COMMEX_CONFIG_DIR": str(tmp_path / "config"),
        "COMMEX_PROFILE": "",
        "COLUMNS": "200",
    }
    services = build_services(Settings(tmp_path), hasher=FAST_HASHER)
    try:
        with serving(services, scheduler=False) as url:
            yield found | {"COMMEX_EXCHANGE": url}
    finally:
        services.shutdown()


def run(env: dict[str, str], *args: str, token: str = "", code: int = 0) -> str:
    result = runner.invoke(build_app(), list(args), env=env | {"COMMEX_TOKEN": token})
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def run_json(env: dict[str, str], *args: str, token: str = "") -> Any:
    return json.loads(run(env, *args, "--json", token=token))


def account(env: dict[str, str], name: str, role: str) -> str:
    return str(run_json(env, "account", "create", name, "--role", role)["token"])


def create(env: dict[str, str], token: str, title: str, *more: str) -> str:
    made = run_json(env, "auction", "create", "--title", title, "--closes-in", "1h", *more,
                    token=token)  # fmt: skip
    return str(made["id"])


def test_find_watch_and_hear_from_the_command_line(env: dict[str, str]) -> None:
    seller = account(env, "Northwind", "provider")
    ann, bob = account(env, "Ann", "recipient"), account(env, "Bob", "recipient")
    voice = create(env, seller, "Voice minutes", "--duration", "3600")
    english = ("--format", "english", "--min-increment", "1")
    fibre = create(env, seller, "Fibre month", "--duration", "30days", "--service", "data",
                   "--min-rate", "20Mbit/s", *english)  # fmt: skip
    found = run_json(env, "auction", "list", "--min-rate", "10Mbit/s", token=ann)
    assert [a["id"] for a in found["items"]] == [fibre]
    assert run(env, "auction", "list", "--min-rate", "fast", token=ann, code=2).count("min_rate")
    first = run_json(env, "auction", "list", "--limit", "1", "--sort", "closing", token=ann)
    assert first["next_cursor"]
    rest = run_json(env, "auction", "list", "--limit", "1", "--sort", "closing",
                    "--cursor", first["next_cursor"], token=ann)  # fmt: skip
    assert {first["items"][0]["id"], rest["items"][0]["id"]} == {voice, fibre}

    assert "watching" in run(env, "auction", "watch", fibre, token=ann)
    assert [a["id"] for a in run_json(env, "auction", "watching", token=ann)["items"]] == [fibre]
    assert "★" in run(env, "auction", "list", token=ann)

    run(env, "auction", "bid", fibre, "10.00", token=ann)
    run(env, "auction", "bid", fibre, "12.00", token=bob)
    heard = run_json(env, "notification", "list", token=ann)
    assert heard["unread"] == 1 and heard["items"][0]["type"] == "bid.outbid"
    assert "You were outbid on “Fibre month”" in run(env, "notification", "list", token=ann)
    assert "1 marked read; 0 unread" in run(env, "notification", "read", token=ann)


def test_webhooks_from_the_command_line(env: dict[str, str]) -> None:
    ann = account(env, "Ann", "recipient")
    refused = run(env, "webhook", "create", "http://127.0.0.1:9/in", "--event", "bid.outbid",
                  token=ann, code=2)  # fmt: skip
    assert "url must reach a public address" in refused
    made = run(env, "webhook", "create", "https://93.184.216.34/in", "--event", "bid.outbid",
               "--event", "auction.won", token=ann)  # fmt: skip
    assert "signing secret (shown this once): whsec_" in made
    (hook,) = run_json(env, "webhook", "list", token=ann)["items"]
    assert hook["events"] == ["auction.won", "bid.outbid"] and "secret" not in hook
    assert run_json(env, "webhook", "deliveries", hook["id"], token=ann)["items"] == []
    assert "removed" in run(env, "webhook", "remove", hook["id"], token=ann)
    assert run_json(env, "webhook", "list", token=ann)["items"] == []


def test_text_from_other_accounts_is_printed_as_written(env: dict[str, str]) -> None:
    seller = account(env, "Northwind", "provider")
    ann, bob = account(env, "Ann", "recipient"), account(env, "Bob", "recipient")
    title = "[red]Cheap[/] [b]fibre[/b]"
    auction = create(env, seller, title, "--duration", "3600", "--format", "english",
                     "--min-increment", "1")  # fmt: skip
    assert title in run(env, "auction", "list", token=ann)  # not rendered as console markup
    run(env, "auction", "bid", auction, "10.00", token=ann)
    run(env, "auction", "bid", auction, "12.00", token=bob)
    assert title in run(env, "notification", "list", token=ann)
