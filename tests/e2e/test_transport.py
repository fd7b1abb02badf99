"""Production transport: with ``COMMEX_PUBLIC_URL=https://...`` the session cookie is Secure and
every answer carries HSTS (the probe found neither), and the server says plainly at start when
the built-in test gateway, which approves every valid card, is in use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.cli.serve import TEST_GATEWAY_WARNING, startup_lines
from commex.server import create_server
from commex.services.commands import Register
from commex.settings import Settings

PASSWORD = "a long passphrase"


@pytest.fixture(params=[None, "https://exchange.example"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(tmp_path, public_url=request.param)
    services = build_services(settings, hasher=Argon2Hasher(time_cost=1, memory_kib=1024))
    services.bus.handle(Register("Harbour", ("recipient",), PASSWORD))
    try:
        with TestClient(create_server(services, scheduler=False)) as c:
            yield c
    finally:
        services.shutdown()


def test_https_public_address_means_secure_cookies_and_hsts(client: TestClient) -> None:
    https = client.app.state.services.settings.https  # type: ignore[attr-defined]
    home = client.get("/")
    assert ("Strict-Transport-Security" in home.headers) is https
    if https:
        assert home.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    r = client.post(
        "/login", data={"name": "Harbour", "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert ("Secure" in cookie) is https


def test_a_public_address_must_be_http_or_https() -> None:
    with pytest.raises(Exception, match="COMMEX_PUBLIC_URL must be an http"):
        Settings.from_env({"COMMEX_PUBLIC_URL": "exchange.example"})
    assert Settings.from_env({"COMMEX_PUBLIC_URL": "https://x.example/"}).https


def test_the_server_says_when_the_test_gateway_approves_every_card(tmp_path: Path) -> None:
    services = build_services(Settings(tmp_path))
    try:
        lines = startup_lines(services)
    finally:
        services.shutdown()
    assert TEST_GATEWAY_WARNING in lines
    assert "approves every valid card" in TEST_GATEWAY_WARNING
