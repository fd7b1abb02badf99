"""The repository contract suite: one set of tests that every store must pass, errors and
their messages included. Each test runs on the in-memory fakes, SQLite and PostgreSQL, so the
fakes the unit tests use cannot drift from the database (and hold nothing it does not)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import upgrade
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.services.ports import UnitOfWorkFactory
from support.databases import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    """A fresh, empty store of each kind: its unit-of-work factory."""
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    admin, url = None, f"sqlite:///{tmp_path / 'commex.db'}"
    if request.param == "postgresql":
        admin = request.getfixturevalue("postgres_server")
        url = create_postgres_database(admin)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        engine.dispose()
        if admin is not None:
            drop_postgres_database(admin, url)
