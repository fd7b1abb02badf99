"""Schema migrations with Alembic, applied by ``commex db upgrade`` and at server start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

_SCRIPTS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x636F6D6D6578  # "commex": one server migrates at a time on a shared PostgreSQL


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest revision; returns it. Safe to run from several servers at
    once: on PostgreSQL an advisory lock serialises them, on SQLite the write lock does."""
    cfg = _config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return current(engine)


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
