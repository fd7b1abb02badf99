"""The SQL unit of work and repositories (SQLAlchemy Core, one connection per unit of work).

Core rather than the ORM: rows map to the frozen domain dataclasses in one place each, and the
hot paths (accept a bid, close 100,000 bids) issue a handful of plain statements.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from commex.adapters.sql.accounts import SqlAccounts, SqlOffers
from commex.adapters.sql.auctions import SqlAuctions
from commex.adapters.sql.audit import SqlAudit
from commex.adapters.sql.billing import SqlCharges
from commex.adapters.sql.contracts import SqlContracts
from commex.adapters.sql.engine import BEGIN_MODE, is_sqlite
from commex.adapters.sql.groups import SqlGroups
from commex.adapters.sql.notices import SqlNotifications, SqlWatches
from commex.adapters.sql.payments import SqlPaymentMethods
from commex.adapters.sql.ratings import SqlRatings
from commex.adapters.sql.subcontracts import SqlNodeKeys, SqlSubcontracts
from commex.adapters.sql.throttles import SqlThrottles
from commex.adapters.sql.webhooks import SqlWebhooks
from commex.adapters.sql.writelock import WriterLock
from commex.domain.errors import Conflict, InvalidInput
from commex.services.ports import EventLog
from commex.services.ports.uow import stored_conflict


class SqlUnitOfWork(EventLog):
    """One transaction on one connection. Uncommitted work is rolled back on exit; driver
    errors leave as commex errors (a constraint violation is a conflict)."""

    def __init__(
        self,
        engine: Engine,
        write: bool = True,
        writer: WriterLock | None = None,
        held: HeldConnection | None = None,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._write = write
        self._writer = writer if write else None
        self._held = held

    def __enter__(self) -> Self:
        if self._writer is not None:
            self._writer.__enter__()
        try:
            return self._begin()
        except BaseException:
            if self._held is not None:
                self._held.release()
            if self._writer is not None:
                self._writer.__exit__(None, None, None)
            raise

    def _begin(self) -> Self:
        self._conn = self._engine.connect() if self._held is None else self._held.take()
        if is_sqlite(self._engine):
            self._conn.info[BEGIN_MODE] = "IMMEDIATE" if self._write else "DEFERRED"
        self._tx = self._conn.begin()
        lock_rows = not is_sqlite(self._engine)  # SQLite's BEGIN IMMEDIATE already locks
        self.accounts = SqlAccounts(self._conn)
        self.offers = SqlOffers(self._conn)
        self.auctions = SqlAuctions(self._conn, lock_rows)
        self.contracts = SqlContracts(self._conn)
        self.ratings = SqlRatings(self._conn)
        self.groups = SqlGroups(self._conn)
        self.charges = SqlCharges(self._conn)
        self.payment_methods = SqlPaymentMethods(self._conn)
        self.watches = SqlWatches(self._conn, self.auctions._auctions)
        self.notifications = SqlNotifications(self._conn, lock_rows)
        self.webhooks = SqlWebhooks(self._conn, skip_locked=lock_rows)
        self.throttles = SqlThrottles(self._conn)
        self.audit = SqlAudit(self._conn)
        self.subcontracts = SqlSubcontracts(self._conn)
        self.node_keys = SqlNodeKeys(self._conn)
        return self

    def commit(self) -> None:
        self.run_before_commit()
        self._tx.commit()
        self.committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            if self._held is None:
                self._conn.close()
            elif exc is not None:  # the connection may be what failed: the next takes another
                self._held.release()
            if self._writer is not None:
                self._writer.__exit__(None, None, None)
        if isinstance(exc, IntegrityError):
            raise stored_conflict() from exc
        if isinstance(exc, DataError):  # e.g. a NUL character, which PostgreSQL cannot store
            raise InvalidInput("the input holds a value that cannot be stored") from exc
        if isinstance(exc, DBAPIError) and "locked" in str(exc.orig).lower():
            raise Conflict("the database is busy; please retry") from exc


class HeldConnection:
    """One connection held between write units of work opened one after another (see
    :class:`~commex.services.ports.uow.HeldUnitsOfWork`); taken from the pool when first
    needed, and again after a unit of work failed or the connection was lost."""

    def __init__(self, factory: SqlUnitOfWorkFactory) -> None:
        self._factory = factory
        self._conn: Connection | None = None

    def __call__(self) -> SqlUnitOfWork:
        f = self._factory
        return SqlUnitOfWork(f.engine, True, f._writer, self)

    def take(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._factory.engine.connect()
        return self._conn

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SqlUnitOfWorkFactory:
    """Units of work on ``engine``; on a SQLite file, write transactions queue on a
    :class:`WriterLock` shared with every other process on the file."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database if is_sqlite(engine) else None
        on_file = database not in (None, "", ":memory:")
        self._writer = WriterLock(Path(database)) if on_file and database else None

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write, self._writer)

    def on_one_connection(self) -> HeldConnection:
        return HeldConnection(self)

    def write_turn(self) -> AbstractContextManager[None]:
        return self._writer if self._writer is not None else nullcontext()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer is not None:
            self._writer.close()
