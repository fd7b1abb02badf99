"""Throw-away PostgreSQL databases on the server that scripts/test-setup starts."""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import upgrade

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


def create_postgres_database(admin_url: str, template: str | None = None) -> str:
    """Create a throw-away database (empty, or a copy of database ``template``) and return
    its URL."""
    name = f"commex_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"{copy}')
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


class MigratedTemplates:
    """Databases at the newest schema, each a copy of one migrated once: a PostgreSQL template
    database (``CREATE DATABASE ... TEMPLATE``) and a SQLite file. Migrating an empty database
    takes about a second, so the tests that need a migrated one but do not test the migrations
    themselves start from a copy; the migrations are still run from empty by their own tests,
    and ``upgrade`` at start still runs (and finds the newest revision) on every copy.

    A copy takes PostgreSQL about 0.4 s, most of it waiting on the disk, so the next one is
    made on a thread of its own while the test that took the last one runs."""

    def __init__(self, scratch: Path, admin_url: Callable[[], str]) -> None:
        self._scratch = scratch
        self._admin_url = admin_url
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database-ahead")
        self._next: Future[str] | None = None

    def sqlite_file(self, target: Path) -> str:
        """A migrated SQLite database written at ``target``; its URL."""
        if self._sqlite is None:
            source = self._scratch / "template.db"
            engine = make_engine(f"sqlite:///{source}")
            upgrade(engine)
            engine.dispose()  # the last connection's close checkpoints the WAL into the file
            self._sqlite = source
        shutil.copyfile(self._sqlite, target)
        target.chmod(0o600)
        return f"sqlite:///{target}"

    def postgres_url(self) -> str:
        """A new migrated PostgreSQL database (drop it with ``drop_postgres_database``)."""
        admin = self._admin_url()
        if self._postgres is None:
            url = create_postgres_database(admin)
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            self._postgres = make_url(url).database
            # Nothing may connect to a template while it is copied.
            _admin_execute(admin, f'ALTER DATABASE "{self._postgres}" ALLOW_CONNECTIONS false')
        ready, self._next = self._next, None
        url = ready.result() if ready else create_postgres_database(admin, self._postgres)
        self._next = self._ahead.submit(create_postgres_database, admin, self._postgres)
        return url

    def close(self) -> None:
        ahead, self._next = self._next, None
        self._ahead.shutdown()
        if ahead is not None:  # made for a test that never came
            drop_postgres_database(self._admin_url(), ahead.result())
        if self._postgres is not None:
            admin = self._admin_url()
            _admin_execute(admin, f'ALTER DATABASE "{self._postgres}" ALLOW_CONNECTIONS true')
            url = make_url(admin).set(database=self._postgres)
            drop_postgres_database(admin, url.render_as_string(hide_password=False))


def _admin_execute(admin_url: str, statement: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


class LaterDrops:
    """Drops throw-away databases on threads of their own, so that the next tests run while
    PostgreSQL removes the last ones; ``close`` waits for every drop and raises the first that
    failed. A drop waits for a checkpoint, and drops under way at once share one, so several
    threads drop the backlog about as fast as one drops a single database."""

    def __init__(self, admin_url: str, threads: int = 8) -> None:
        self._admin_url = admin_url
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._run, name=f"database-drops-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def drop(self, url: str) -> None:
        self._queue.put(url)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]

    def _run(self) -> None:
        while (url := self._queue.get()) is not None:
            try:
                drop_postgres_database(self._admin_url, url)
            except Exception as exc:  # raised again by close(), in the test process
                self._errors.append(exc)
