"""Engines for SQLite (the default, one file) and PostgreSQL (production).

SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged bid is on disk, and survives
a crash of the process or of the machine. Write transactions start with ``BEGIN IMMEDIATE`` so
the write lock is taken before anything is read, which makes read-check-write sequences (accept
a bid, close an auction) atomic across processes; read-only ones start with a plain ``BEGIN``.
PostgreSQL gets the same guarantee from row locks (``SELECT ... FOR UPDATE``).

Statements' values never appear in an error or a log line (``hide_parameters``): they include
token hashes, password hashes and payment-gateway tokens.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from commex.adapters.sql.files import secure_sqlite_files

BEGIN_MODE = "commex_begin"
log = logging.getLogger("commex.storage")


def sqlite_url(data_dir: Path) -> str:
    """The default database: ``commex.db`` inside the data directory."""
    return f"sqlite:///{(data_dir / 'commex.db').resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with commex's connection settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            for note in secure_sqlite_files(Path(database)):  # data dir 700, files 600
                log.warning("%s", note)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let commex emit BEGIN itself (the driver's implicit transactions would defer the lock).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.info.get(BEGIN_MODE, "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")
