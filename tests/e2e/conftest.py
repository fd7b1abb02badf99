"""Fixtures for the end-to-end tiers.

``api_*`` fixtures drive the HTTP API through a real ASGI app (FastAPI's TestClient) over the
in-memory services or a SQLite file, with a manual clock so closing is deterministic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_support import ApiWorld
from browser_support import CHROMIUM, CHROMIUM_ARGS, WebLive
from playwright.sync_api import Browser, sync_playwright

from commex.adapters.clock import ManualClock
from commex.adapters.memory import FixedReputations
from commex.bootstrap import build_services, in_memory_services
from commex.domain.urls import Resolver
from commex.settings import Settings
from support.serving import serving
from support.worlds import FAST_HASHER, START


@pytest.fixture
def api_clock() -> ManualClock:
    return ManualClock(START)


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
        clock=api_clock, reputations=api_reputations, hasher=FAST_HASHER, resolve=api_resolve
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
        hasher=FAST_HASHER,
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
        hasher=FAST_HASHER,
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
        hasher=FAST_HASHER,
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
