"""Throw-away PostgreSQL databases on the server that scripts/test-setup starts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ProgrammingError

from support.net import wait_until

REPO = Path(__file__).resolve().parents[2]


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


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        wait_until(lambda: _dropped(conn, name), f"database {name} to drop", timeout=30)
    engine.dispose()


def _dropped(conn: Connection, name: str) -> bool:
    """Drop the database, ending its sessions; False while the cluster's autovacuum works in
    it, since a role that is not a superuser may not end that worker (it soon leaves)."""
    try:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except ProgrammingError as e:
        if "pg_signal_backend" not in str(e.orig):
            raise
        return False
    return True
