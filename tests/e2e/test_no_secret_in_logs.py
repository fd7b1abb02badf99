"""Logs (O1): ``commex serve`` and ``commex node serve`` at ``--log-level debug`` write one JSON
object per line on stderr, each request's lines with its id, and no token, password, card
number, session cookie or CSRF token reaches them through any path that handles one: signing
up (API and page), logging in and out (right and wrong), using API tokens (in the header, and
misplaced in a query string), saving cards (API and page, good and refused), device tokens,
webhook signing secrets (created, signing a delivery to a real receiver, and signing its
retry) and node tokens."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from ops_support import commex_serving, operator_token
from serve_support import EXE, answers, free_port, wait_until

from support.receiver import Receiver, receiver

PASSWORDS = ("first long passphrase", "second long passphrase!")
CARDS = ("4111111111111111", "5555555555554444", "4242424242424241")  # the last one is refused
NODE_TOKEN = "node-shared-secret-7f3e9a"


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_text().splitlines():
        line = json.loads(raw)  # every line is one JSON object
        assert {"ts", "level", "logger", "message"} <= line.keys(), raw
        out.append(line)
    return out


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def _exercise_the_exchange(url: str, op: str) -> set[str]:
    """Every path that handles a secret; returns the secrets it saw."""
    with (
        httpx.Client(base_url=url, timeout=30) as api,
        httpx.Client(base_url=url, timeout=30, follow_redirects=False) as web,
        receiver([500, 200]) as box,
    ):
        return _through_the_api(api, op) | _through_a_webhook(api, box) | _through_the_pages(web)


def _through_the_api(api: httpx.Client, op: str) -> set[str]:
    secrets: set[str] = {*PASSWORDS, op}
    ann = api.post("/v1/accounts", json={"name": "Ann", "roles": ["recipient"],
                                         "password": PASSWORDS[0]}).json()  # fmt: skip
    secrets.add(ann["token"])
    auth = {"Authorization": f"Bearer {ann['token']}"}
    assert api.get("/v1/accounts/me", headers=auth).status_code == 200
    assert api.get("/v1/accounts/me", headers={"Authorization": "Bearer cx_notatokenatall0000000"}
                   ).status_code == 401  # fmt: skip
    assert api.get(f"/v1/auctions?token={ann['token']}", headers=auth).status_code == 200
    for number in CARDS:
        body = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "321"}
        api.post("/v1/payment-methods", json=body, headers=auth)
    device = api.post("/v1/devices", json={"name": "Phone", "user": "Ann"}, headers=auth).json()
    secrets.add(device["token"])
    dev_auth = {"Authorization": f"Bearer {device['token']}"}
    assert api.get("/v1/contracts/con_nothere", headers=dev_auth).status_code == 404
    assert api.get("/metrics", headers={"Authorization": f"Bearer {op}"}).status_code == 200
    return secrets


def _through_a_webhook(api: httpx.Client, box: Receiver) -> set[str]:
    """A webhook is created (its secret shown once), signs an event to a real receiver that
    answers 500, and signs it again when its owner asks for a retry."""
    cleo, dan = (
        api.post("/v1/accounts", json={"name": n, "roles": ["recipient"]}).json()
        for n in ("Cleo", "Dan")
    )
    auth = {"Authorization": f"Bearer {cleo['token']}"}
    body = {"url": box.url, "events": ["group.invited"]}
    hook = api.post("/v1/webhooks", json=body, headers=auth).json()
    assert hook["secret"].startswith("whsec_")
    dan_auth = {"Authorization": f"Bearer {dan['token']}"}
    group = api.post("/v1/groups", json={"name": "Quay", "currency": "EUR"}, headers=dan_auth)
    invite = {"account_id": cleo["id"]}
    assert api.post(f"/v1/groups/{group.json()['id']}/invitations", json=invite,
                    headers=dan_auth).status_code == 201  # fmt: skip
    wait_until(lambda: len(box.got) >= 1, "the first delivery", 30)
    log = f"/v1/webhooks/{hook['id']}/deliveries"
    (delivery,) = api.get(log, headers=auth).json()["items"]
    assert api.post(f"{log}/{delivery['id']}/retry", headers=auth).status_code == 202
    wait_until(lambda: len(box.got) >= 2, "the retried delivery", 30)
    return {cleo["token"], dan["token"], hook["secret"]}


def _through_the_pages(web: httpx.Client) -> set[str]:
    """Sign up, save a card, log out, log in wrong and right."""
    secrets: set[str] = set()
    done = web.post("/signup", data={"name": "Bob", "password": PASSWORDS[1],
                                     "roles": ["recipient"]})  # fmt: skip
    assert done.status_code == 201
    secrets.update(re.findall(r"cx_[A-Za-z0-9_-]{20,}", done.text))  # the token shown once
    secrets.add(web.cookies["commex_session"])
    page = web.get("/account/cards")
    csrf = _csrf(page.text)
    secrets.add(csrf)
    card = {"csrf": csrf, "number": "5555 5555 5555 4444", "exp_month": "12",
            "exp_year": "2031", "cvc": "321"}  # fmt: skip
    assert web.post("/account/cards", data=card).status_code in (201, 303)
    assert web.post("/logout", data={"csrf": csrf}).status_code == 303
    assert web.post("/login", data={"name": "Bob", "password": PASSWORDS[0]}).status_code == 401
    assert web.post("/login", data={"name": PASSWORDS[0], "password": "x" * 12}).status_code == 401
    assert web.post("/login", data={"name": "Bob", "password": PASSWORDS[1]}).status_code == 303
    secrets.add(web.cookies["commex_session"])
    assert web.get("/account").status_code == 200
    return secrets


def _exercise_a_node(tmp_path: Path) -> Path:
    port = free_port()
    stderr = tmp_path / "node.stderr"
    env = dict(os.environ, COMMEX_NODE_TOKEN=NODE_TOKEN)
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [EXE, "node", "serve", "--capabilities", "gain", "--port", str(port),
             "--log-level", "debug"],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or answers(f"{url}/v1/node"), "the node", 30)
        good = {"Authorization": f"Bearer {NODE_TOKEN}"}
        assert httpx.get(f"{url}/v1/node", headers=good).status_code == 200
        assert httpx.get(f"{url}/metrics", headers=good).status_code == 200
        wrong = {"Authorization": f"Bearer {NODE_TOKEN}-wrong"}
        assert httpx.get(f"{url}/v1/node", headers=wrong).status_code == 401
        assert httpx.post(f"{url}/v1/node/process", content=b"junk", headers=good).status_code \
            == 422  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return stderr


def test_no_secret_reaches_a_log_at_debug(tmp_path: Path) -> None:
    data = tmp_path / "data"
    op = operator_token(data)
    allow = {"COMMEX_ALLOW_PRIVATE_URLS": "1"}  # the webhook's receiver is on loopback
    with commex_serving(data, "--log-level", "debug", "--log-format", "json", env=allow) as served:
        secrets = _exercise_the_exchange(served.url, op)
    node_log = _exercise_a_node(tmp_path)
    exchange = _lines(served.stderr)
    node = _lines(node_log)
    # the logs are there to read: access lines with request ids, commex's own debug lines
    access = [x for x in exchange if x["logger"] == "commex.access"]
    assert len(access) >= 15 and all(re.fullmatch(r"[0-9a-f]{32}", x["request_id"])
                                     for x in access)  # fmt: skip
    assert any(x["level"] == "debug" and x["logger"] == "commex.api" for x in exchange)
    assert any(x["message"] == "card saved" and x["last4"] == "4444" for x in exchange)
    assert any(x["message"].startswith("login refused") for x in exchange)
    assert any(x["logger"] == "uvicorn.access" and x["status"] == 401 for x in node)
    everything = served.stderr.read_text() + node_log.read_text()
    secrets |= {NODE_TOKEN, *CARDS, "5555 5555 5555 4444"}
    leaked = sorted(s for s in secrets if s in everything)
    assert leaked == []
