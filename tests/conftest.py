"""Fixtures shared by every tier: databases (SQLite files, PostgreSQL throw-away databases),
empty or at the newest schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# A pytest-xdist worker starts with COLUMNS=80 in its environment, and a Rich console made while
# COLUMNS is set keeps that width for good: the command line's consoles, made when a test first
# imports them, would then ignore the COLUMNS each test gives the commands it runs. Without it
# they read COLUMNS as they print, as in a run without workers.
os.environ.pop("COLUMNS", None)

from support.databases import (
    REPO,
    LaterDrops,
    MigratedTemplates,
    create_postgres_database,
    postgres_admin_url,
)
from support.net import free_port

TESTDATA = REPO.parent / "shared" / "testdata"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In `make test`'s second pass (``-m serial``), read only the test files that mark a test
    ``serial``: every other file would be imported, and the API's schema-generated tests built
    (seconds of CPU), only for all of its tests to be deselected. A test is serial only through
    ``pytest.mark.serial`` written in its own file."""
    if config.getoption("markexpr") != "serial" or not collection_path.is_file():
        return None
    if not (collection_path.name.startswith("test_") and collection_path.suffix == ".py"):
        return None
    return "mark.serial" not in collection_path.read_text(encoding="utf-8") or None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server (started by scripts/test-setup)."""
    return postgres_admin_url()


@pytest.fixture(scope="session")
def postgres_drops(postgres_server: str) -> Iterator[LaterDrops]:
    """Where the throw-away databases go when their test ends (dropped meanwhile)."""
    drops = LaterDrops(postgres_server)
    try:
        yield drops
    finally:
        drops.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind commex supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'commex.db'}"
        return
    drops: LaterDrops = request.getfixturevalue("postgres_drops")
    url = create_postgres_database(request.getfixturevalue("postgres_server"))
    try:
        yield url
    finally:
        drops.drop(url)


@pytest.fixture
def postgres_url(postgres_server: str, postgres_drops: LaterDrops) -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    url = create_postgres_database(postgres_server)
    try:
        yield url
    finally:
        postgres_drops.drop(url)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """The session's migrated databases to copy (each made on first use)."""
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"), postgres_admin_url)
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """A fresh database of each kind commex supports, at the newest schema: for tests of what
    runs on the schema, not of the migrations."""
    if request.param == "sqlite":
        yield migrated_templates.sqlite_file(tmp_path / "commex.db")
        return
    url = request.getfixturevalue("migrated_postgres_url")
    yield url


@pytest.fixture
def migrated_postgres_url(
    migrated_templates: MigratedTemplates, postgres_drops: LaterDrops
) -> Iterator[str]:
    """A fresh PostgreSQL database at the newest schema."""
    url = migrated_templates.postgres_url()
    try:
        yield url
    finally:
        postgres_drops.drop(url)


@pytest.fixture
def migrated_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``kind -> URL``: a fresh database at the newest schema, of kind ``"sqlite"`` (the
    default ``commex.db`` of ``tmp_path``, the data directory) or ``"postgresql"``; for
    fixtures parametrised by storage."""

    def url(kind: str) -> str:
        if kind == "sqlite":
            templates: MigratedTemplates = request.getfixturevalue("migrated_templates")
            return templates.sqlite_file(tmp_path / "commex.db")
        return str(request.getfixturevalue("migrated_postgres_url"))

    return url


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a real localstripe server (a stateful fake of the Stripe API), started
    from the venv for the whole session on a free port and stopped at the end."""
    exe = Path(sys.executable).with_name("localstripe")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extras (make .venv/.installed-stamp)")
    port = free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--port", str(port), "--from-scratch"], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"localstripe exited with {proc.returncode}: {log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not listen on {port}: {log.read_text()}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
