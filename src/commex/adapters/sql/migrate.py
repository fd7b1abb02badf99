"""Schema migrations with Alembic, applied by ``commex db upgrade`` and at server start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

_SCRIPTS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x636F6D6D6578  # "commex": one server migrates at a time on a shared PostgreSQL


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def upgrade(engine: Engine, to: str = "head") -> str | None:
    """Bring the schema to the newest revision (or to revision ``to``, which tests of a
    migration's data use); returns it. Safe to run from several servers at once: on
    PostgreSQL an advisory lock serialises them, on SQLite the write lock does."""
    cfg = _config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            _foreign_keys(conn, on=False)
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, to)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows that refer to nothing")
        finally:
            if sqlite:
                _foreign_keys(conn, on=True)
    return current(engine)


def _foreign_keys(conn: Connection, *, on: bool) -> None:
    """Switch SQLite's foreign-key checks, outside any transaction (inside one the switch is
    ignored): a migration that rebuilds a table (SQLite alters a column no other way) drops it
    under the rows that refer to it, so the checks are off meanwhile, and every reference is
    checked once before the migration commits."""
    conn.connection.dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # type: ignore[union-attr]


def current(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first upgrade)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def known_revisions() -> set[str]:
    """Every schema revision this version of commex can migrate from."""
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def head() -> str | None:
    """The newest revision this version of commex knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()
