"""Fixtures shared by every tier: databases (SQLite files, PostgreSQL throw-away databases)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"


def _postgres_admin_url() -> str:
    url = os.environ.get("COMMEX_TEST_POSTGRES_URL")
    if url:
        return url
    stored = REPO / ".commex" / "test-postgres-url"
    if stored.exists():
        return stored.read_text().strip()
    pytest.fail(
        "PostgreSQL is not set up for the tests: run `bash scripts/test-setup` (make test does) "
        "or set COMMEX_TEST_POSTGRES_URL to a role that may create databases"
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server (started by scripts/test-setup)."""
    return _postgres_admin_url()


def create_postgres_database(admin_url: str) -> str:
    """Create a throw-away database and return its URL."""
    name = f"commex_test_{secrets.token_hex(6)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind commex supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'commex.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    url = create_postgres_database(admin)
    try:
        yield url
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    url = create_postgres_database(postgres_server)
    try:
        yield url
    finally:
        drop_postgres_database(postgres_server, url)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a real localstripe server (a stateful fake of the Stripe API), started
    from the venv for the whole session on a free port and stopped at the end."""
    exe = Path(sys.executable).with_name("localstripe")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extras (make .venv/.installed-stamp)")
    port = _free_port()
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
