"""Throw-away PostgreSQL databases on the server that scripts/test-setup starts."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

REPO = Path(__file__).resolve().parents[2]
_INSUFFICIENT_PRIVILEGE = "42501"


def postgres_admin_url() -> str:
    """The URL of a role that may create databases, or a failure saying how to get one."""
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


def create_postgres_database(admin_url: str) -> str:
    """Create a throw-away database and return its URL."""
    name = f"commex_test_{secrets.token_hex(6)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str, timeout: float = 60.0) -> None:
    """Drop a throw-away database, ending its connections. PostgreSQL 15 refuses ``FORCE``
    to a role that is not a superuser while an autovacuum worker is busy on the database
    (insufficient privilege); the worker ends by itself, so the drop is tried again until it
    goes through or ``timeout`` passes."""
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except ProgrammingError as exc:
                refused = getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE
                if not refused or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()
