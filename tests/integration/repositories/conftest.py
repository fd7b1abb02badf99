"""The repository contract suite: one set of tests that every store must pass, errors and
their messages included. Each test runs on the in-memory fakes, SQLite and PostgreSQL, so the
fakes the unit tests use cannot drift from the database (and hold nothing it does not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.services.ports import UnitOfWorkFactory


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    """A fresh, empty store of each kind (a database at the newest schema): its unit-of-work
    factory."""
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    engine = make_engine(request.getfixturevalue("migrated_store")(request.param))
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        engine.dispose()
