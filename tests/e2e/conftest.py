"""Fixtures for the end-to-end tiers.

``api_*`` fixtures drive the HTTP API through a real ASGI app (FastAPI's TestClient) over the
in-memory services or a SQLite file, with a manual clock so closing is deterministic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, WebLive
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from commex.adapters.clock import ManualClock
from commex.adapters.memory import FixedReputations
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services, in_memory_services
from commex.domain.urls import Resolver
from commex.server import create_server
from commex.services.commands import Register
from commex.settings import Settings
from support.serving import serving

API_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
API_OPEN_FOR = timedelta(hours=1)
API_FAST_HASHER = Argon2Hasher(time_cost=1, memory_kib=1024)


@dataclass(frozen=True)
class ApiActor:
    """An account as a caller: its id, name and bearer token."""

    id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ApiWorld:
    """One exchange behind a test client, with helpers that act only through HTTP.

    The client does not re-raise server exceptions: a crash shows up as a 500 answer, which
    the tests can then assert never happens.
    """

    def __init__(self, services: Services, clock: ManualClock) -> None:
        self.services = services
        self.clock = clock
        self.app = create_server(services, scheduler=False)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        reg = services.bus.handle(Register("Op", ("operator",), operator=True))
        self.operator = ApiActor(reg.account.id, reg.account.name, reg.token)

    def account(self, name: str, *roles: str, password: str | None = None) -> ApiActor:
        body: dict[str, Any] = {"name": name, "roles": list(roles)}
        if password is not None:
            body["password"] = password
        r = self.client.post("/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        return ApiActor(data["id"], data["name"], data["token"])

    def auction_body(self, direction: str = "forward", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "direction": direction,
            "format": "first-price",
            "title": f"{direction} block of voice",
            "terms": {"service": "voice", "duration_s": 3600},
            "currency": "EUR",
            "closes_at": (self.clock.now() + API_OPEN_FOR).isoformat(),
        }
        body.update(overrides)
        return body

    def create_auction(
        self, owner: ApiActor, direction: str = "forward", **overrides: Any
    ) -> dict[str, Any]:
        r = self.post("/v1/auctions", owner, json=self.auction_body(direction, **overrides))
        assert r.status_code == 201, r.text
        return dict(r.json())

    def bid(
        self,
        who: ApiActor | None,
        auction_id: str,
        amount: Any,
        max_amount: Any = None,
        key: str | None = None,
    ) -> httpx2.Response:
        body: dict[str, Any] = {"amount": amount}
        if max_amount is not None:
            body["max_amount"] = max_amount
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.post(f"/v1/auctions/{auction_id}/bids", who, json=body, headers=headers)

    def get(self, path: str, who: ApiActor | None = None, **kw: Any) -> httpx2.Response:
        return self.client.get(path, headers=self._headers(who, kw.pop("headers", None)), **kw)

    def post(self, path: str, who: ApiActor | None = None, **kw: Any) -> httpx2.Response:
        return self.client.post(path, headers=self._headers(who, kw.pop("headers", None)), **kw)

    def auction(self, who: ApiActor, auction_id: str) -> dict[str, Any]:
        r = self.get(f"/v1/auctions/{auction_id}", who)
        assert r.status_code == 200, r.text
        return dict(r.json())

    @staticmethod
    def _headers(who: ApiActor | None, extra: dict[str, str] | None) -> dict[str, str]:
        out = dict(who.headers) if who is not None else {}
        out.update(extra or {})
        return out


@pytest.fixture
def api_clock() -> ManualClock:
    return ManualClock(API_T0)


@pytest.fixture
def api_reputations() -> FixedReputations:
    """The reputations the API shows: none yet, until a test sets some."""
    return FixedReputations()


@pytest.fixture
def api_resolve() -> Resolver:
    """How the in-memory API resolves host names (node URLs): these tests make no DNS
    queries, so no name resolves unless a test gives its own table."""
    return lambda _host: []


@pytest.fixture
def api_world(
    api_clock: ManualClock, api_reputations: FixedReputations, api_resolve: Resolver
) -> Iterator[ApiWorld]:
    """The API over the in-memory services."""
    services = in_memory_services(
        clock=api_clock, reputations=api_reputations, hasher=API_FAST_HASHER, resolve=api_resolve
    )
    world = ApiWorld(services, api_clock)
    with world.client:
        yield world


@pytest.fixture
def api_sqlite_world(
    api_clock: ManualClock,
    api_reputations: FixedReputations,
    tmp_path: Path,
    migrated_store: Callable[[str], str],
) -> Iterator[ApiWorld]:
    """The API over a SQLite file at the newest schema (the server's upgrade at start finds
    nothing left to do)."""
    services = build_services(
        Settings(tmp_path, migrated_store("sqlite")),
        clock=api_clock,
        reputations=api_reputations,
        hasher=API_FAST_HASHER,
    )
    world = ApiWorld(services, api_clock)
    try:
        with world.client:
            yield world
    finally:
        services.shutdown()


@pytest.fixture
def api_postgresql_world(
    api_clock: ManualClock,
    api_reputations: FixedReputations,
    migrated_postgres_url: str,
    tmp_path: Path,
) -> Iterator[ApiWorld]:
    """The API over a throw-away PostgreSQL database at the newest schema."""
    services = build_services(
        Settings(tmp_path, migrated_postgres_url),
        clock=api_clock,
        reputations=api_reputations,
        hasher=API_FAST_HASHER,
    )
    try:
        world = ApiWorld(services, api_clock)
        with world.client:
            yield world
    finally:
        services.shutdown()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def api_any_world(request: pytest.FixtureRequest) -> ApiWorld:
    """The API over each storage: the in-memory services, a SQLite file and PostgreSQL."""
    name = "api_world" if request.param == "memory" else f"api_{request.param}_world"
    world: ApiWorld = request.getfixturevalue(name)
    return world


@pytest.fixture
def data_dir(tmp_path: Path, migrated_store: Callable[[str], str]) -> Path:
    """``tmp_path`` as a data directory holding a fresh database at the newest schema, for
    `commex` processes started on it (their upgrade at start finds nothing to do)."""
    migrated_store("sqlite")
    return tmp_path


@pytest.fixture
def web_live(tmp_path: Path, migrated_store: Callable[[str], str]) -> Iterator[WebLive]:
    """A real server on a free loopback port over a SQLite file, with a clock the test moves,
    the closing scheduler running and real reputations (the tallies ratings move)."""
    clock = ManualClock(datetime.now(UTC))
    services = build_services(
        Settings(tmp_path, migrated_store("sqlite")),
        clock=clock,
        hasher=Argon2Hasher(time_cost=1, memory_kib=1024),
    )
    try:
        with serving(services) as url:
            yield WebLive(url, services, clock)
    finally:
        services.shutdown()


@pytest.fixture
def web_browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (scripts/test-setup installs it)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/test-setup` (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
