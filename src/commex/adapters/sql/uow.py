"""The SQL unit of work and repositories (SQLAlchemy Core, one connection per unit of work).

Core rather than the ORM: rows map to the frozen domain dataclasses in one place each, and the
hot paths (accept a bid, close 100,000 bids) issue a handful of plain statements.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from commex.adapters.sql.accounts import SqlAccounts, SqlOffers
from commex.adapters.sql.auctions import SqlAuctions
from commex.adapters.sql.billing import SqlCharges
from commex.adapters.sql.contracts import SqlContracts
from commex.adapters.sql.engine import BEGIN_MODE, is_sqlite
from commex.adapters.sql.groups import SqlGroups
from commex.adapters.sql.notices import SqlNotifications, SqlWatches
from commex.adapters.sql.payments import SqlPaymentMethods
from commex.adapters.sql.ratings import SqlRatings
from commex.adapters.sql.webhooks import SqlWebhooks
from commex.domain.errors import Conflict, InvalidInput
from commex.services.ports import EventLog
from commex.services.ports.uow import stored_conflict


class SqlUnitOfWork(EventLog):
    """One transaction on one connection. Uncommitted work is rolled back on exit; driver
    errors leave as commex errors (a constraint violation is a conflict)."""

    def __init__(self, engine: Engine, write: bool = True) -> None:
        super().__init__()
        self._engine = engine
        self._write = write

    def __enter__(self) -> Self:
        self._conn = self._engine.connect()
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
            self._conn.close()
        if isinstance(exc, IntegrityError):
            raise stored_conflict() from exc
        if isinstance(exc, DataError):  # e.g. a NUL character, which PostgreSQL cannot store
            raise InvalidInput("the input holds a value that cannot be stored") from exc
        if isinstance(exc, DBAPIError) and "locked" in str(exc.orig).lower():
            raise Conflict("the database is busy; please retry") from exc


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write)

    def dispose(self) -> None:
        self.engine.dispose()
