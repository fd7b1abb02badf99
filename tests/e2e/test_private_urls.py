"""A running exchange refuses node offers that point inside its own network (loopback, the
metadata service, private ranges), unless its operator allows private addresses for a local
deployment with COMMEX_ALLOW_PRIVATE_URLS=1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from serve_support import EXE, commex_server, free_port

from commex.settings import Settings

NODE_TOKEN = "node-secret-for-private-urls"


def _provider(exchange: str) -> dict[str, str]:
    r = httpx.post(f"{exchange}/v1/accounts", json={"name": "Probe Media", "roles": ["provider"]})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _offer(exchange: str, token: str, node_url: str) -> httpx.Response:
    return httpx.put(
        f"{exchange}/v1/providers/me/offer",
        headers={"Authorization": f"Bearer {token}"},
        json={"node_url": node_url, "capabilities": ["gain"], "price": "0.10", "currency": "EUR"},
    )


def test_a_node_on_loopback_or_the_metadata_address_is_refused_by_default(data_dir: Path) -> None:
    with commex_server(data_dir) as exchange:
        token = _provider(exchange)["token"]
        for node_url, why in [
            ("http://127.0.0.1:9911/steal", "127.0.0.1 is a loopback address"),
            ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
            ("http://localhost:9911", "localhost resolves to a loopback address"),
            ("http://10.0.0.7:8765", "10.0.0.7 is a private address"),
        ]:
            r = _offer(exchange, token, node_url)
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["field"] == "node_url" and why in error["message"]
        # A node started on loopback with --exchange says why it cannot publish, and stops.
        node = subprocess.run(
            [EXE, "node", "serve", "--capabilities", "gain", "--port", str(free_port()),
             "--exchange", exchange],
            env=dict(os.environ, COMMEX_TOKEN=token, COMMEX_NODE_TOKEN=NODE_TOKEN),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert node.returncode == 2, node.stderr
        assert "node_url must reach a public address" in node.stderr
        assert "Traceback" not in node.stderr
        found = httpx.get(
            f"{exchange}/v1/providers?capability=gain", headers={"Authorization": f"Bearer {token}"}
        )
        assert found.json()["items"] == []


def test_the_operator_may_allow_private_addresses(data_dir: Path) -> None:
    with commex_server(data_dir, {"COMMEX_ALLOW_PRIVATE_URLS": "1"}) as exchange:
        token = _provider(exchange)["token"]
        r = _offer(exchange, token, "http://127.0.0.1:9911")
        assert r.status_code == 200, r.text
        assert r.json()["node_url"] == "http://127.0.0.1:9911"
        assert _offer(exchange, token, "ftp://127.0.0.1").status_code == 422


def test_a_setting_that_is_neither_on_nor_off_stops_the_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [EXE, "serve", "--port", str(free_port())],
        env=dict(os.environ, COMMEX_DATA_DIR=str(tmp_path), COMMEX_ALLOW_PRIVATE_URLS="sure"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error (COMMEX_ALLOW_PRIVATE_URLS): COMMEX_ALLOW_PRIVATE_URLS must be 1 or 0"
    ]


@pytest.mark.parametrize(
    ("value", "allowed"),
    [(None, False), ("", False), ("0", False), ("off", False), ("1", True), (" TRUE ", True)],
)
def test_private_addresses_are_off_unless_switched_on(value: str | None, allowed: bool) -> None:
    env = {} if value is None else {"COMMEX_ALLOW_PRIVATE_URLS": value}
    assert Settings.from_env(env).allow_private_urls is allowed
