"""An acknowledged bid is on disk: the server's SQLite connections run in WAL mode with
``synchronous=FULL`` (fsync at every commit), as `make run` configures them, whatever the hot
path does to go fast."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from commex.adapters.sql.engine import BEGIN_MODE
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import build_services
from commex.settings import Settings
from support.worlds import FAST_HASHER

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_the_servers_sqlite_connections_are_wal_with_synchronous_full(tmp_path: Path) -> None:
    services = build_services(Settings(tmp_path), hasher=FAST_HASHER)  # as commex serve does
    try:
        factory = services.bus.uow_factory
        assert isinstance(factory, SqlUnitOfWorkFactory)
        engine: Engine = factory.engine
        # Every pooled connection, not only the first: take several at once.
        connections = [engine.connect() for _ in range(4)]
        try:
            for conn in connections:
                conn.info[BEGIN_MODE] = "DEFERRED"  # readers, so all four may look at once
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        finally:
            for conn in connections:
                conn.close()
    finally:
        services.shutdown()
