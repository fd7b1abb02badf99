"""The one composition root: wires the engine to its adapters. Nothing else builds these."""

from __future__ import annotations

from commex.adapters.clock import RandomIds, SystemClock
from commex.adapters.memory import MemoryUnitOfWorkFactory, NoRatingsYet
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import upgrade
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.services.exchange import Exchange
from commex.services.ports import Clock, EventPublisher, IdGenerator, ReputationSource
from commex.settings import Settings


def build_exchange(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    events: EventPublisher | None = None,
    migrate: bool = True,
) -> Exchange:
    """An exchange on the configured database (SQLite by default), migrated to the newest schema."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.url())
    if migrate:
        upgrade(engine)
    return Exchange(
        SqlUnitOfWorkFactory(engine),
        clock or SystemClock(),
        ids or RandomIds(),
        reputations or NoRatingsYet(),
        events,
    )


def in_memory_exchange(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
) -> Exchange:
    """An exchange held in memory: for tests, experiments and library users without a database."""
    return Exchange(
        MemoryUnitOfWorkFactory(),
        clock or SystemClock(),
        ids or RandomIds(),
        reputations or NoRatingsYet(),
    )
