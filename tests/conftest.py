"""Fixtures shared by every tier: databases (SQLite files, PostgreSQL throw-away databases)."""

from __future__ import annotations

import os
import secrets
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
