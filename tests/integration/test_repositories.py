"""The SQL adapters on SQLite and PostgreSQL: the schema the migrations make, the engine
running an auction on the database, and registration in one transaction. Every repository
method is checked on every store by the contract suite in ``repositories/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import NoRatingsYet
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.adapters.sql.tables import accounts, metadata
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.errors import Conflict
from commex.services.commands import Register
from support.engine import close, close_due, contracts_of, open_auction, place_bid, register, wire

T0 = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(migrated_database_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


def test_migrations_reach_head_and_match_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)  # empty: every migration runs
    try:
        assert current(engine) is None
        assert upgrade(engine) == head()
        assert current(engine) == head()
        assert upgrade(engine) == head()  # a second upgrade is a no-op
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_the_exchange_runs_an_auction_on_the_database(uow: SqlUnitOfWorkFactory) -> None:
    clock = ManualClock(T0)
    ex = make_bus(uow, clock=clock, ids=SequentialIds(), reputations=NoRatingsYet())
    seller = register(ex, "Seller", ["provider"])
    buyers = [register(ex, f"B{i}", ["recipient"]) for i in range(3)]
    auction = open_auction(
        ex,
        seller.id,
        {
            "direction": "forward",
            "format": "second-price",
            "title": "two blocks",
            "terms": {"service": "voice", "duration_s": 600},
            "currency": "EUR",
            "quantity": 2,
            "reserve": "5.00",
            "closes_at": (T0 + timedelta(minutes=5)).isoformat(),
        },
    )
    place_bid(ex, auction.id, buyers[0].id, "9.00")
    place_bid(ex, auction.id, buyers[0].id, "12.00")  # replaces the 9.00
    place_bid(ex, auction.id, buyers[1].id, "11.00")
    place_bid(ex, auction.id, buyers[2].id, "7.25")
    assert wire(ex, auction.id, buyers[1].id)["bid_count"] == 3
    clock.advance(301)
    (closed,) = close_due(ex)
    assert closed.outcome is not None
    assert [(w.bidder_id, str(w.price)) for w in closed.outcome.winners] == [
        (buyers[0].id, "7.25"),
        (buyers[1].id, "7.25"),
    ]
    assert close_due(ex) == []
    again = close(ex, auction.id, seller.id)
    assert again.outcome == closed.outcome
    contracts = contracts_of(ex, seller.id)
    assert sorted(c.recipient_id for c in contracts) == [buyers[0].id, buyers[1].id]


def test_a_taken_name_is_a_conflict_that_leaves_nothing_behind(uow: SqlUnitOfWorkFactory) -> None:
    """Registration is one transaction: two registrations of one login name leave one account,
    and the second is refused saying the name is taken."""
    ex = make_bus(uow, clock=ManualClock(T0), hasher=Argon2Hasher(time_cost=1, memory_kib=1024))
    first = ex.handle(Register("Harbour", ("recipient",), "correct horse battery"))
    with pytest.raises(Conflict) as taken:
        ex.handle(Register("HARBOUR ", ("recipient",), "another long password"))
    assert taken.value.message == "the name 'HARBOUR' is taken; please choose another"
    with uow.engine.connect() as conn:
        rows = conn.execute(select(accounts.c.id, accounts.c.name_key)).all()
    assert [tuple(r) for r in rows] == [(first.account.id, "harbour")]
