"""B1 on SQLite and PostgreSQL: saved cards round-trip, keep one default, and respect the limit
when saved concurrently from several connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.sql import tables as t
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import build_services
from commex.domain.accounts import Account, Role
from commex.domain.errors import Conflict
from commex.domain.payment_methods import MAX_CARDS, PaymentMethod
from commex.services.commands import AddCard, Register
from commex.services.queries import ListCards
from commex.settings import Settings

T0 = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(migrated_database_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database_url)
    yield engine
    engine.dispose()


def card(n: int, account_id: str = "acc_ann", default: bool = False) -> PaymentMethod:
    return PaymentMethod(
        id=f"card_{n}",
        account_id=account_id,
        gateway="test",
        token=f"tok_test_ok_{n:032x}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030 + n,
        is_default=default,
        created_at=T0 + timedelta(seconds=n),
    )


def test_the_migration_creates_the_table_as_declared(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "payment_methods" in repr(d)] == []


def test_cards_round_trip_in_order_with_one_default(engine: Engine) -> None:
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as w:
        w.accounts.add(Account("acc_ann", "Ann", frozenset({Role.RECIPIENT}), T0))
        w.accounts.add(Account("acc_bob", "Bob", frozenset({Role.RECIPIENT}), T0))
        for m in (card(2), card(1, default=True), card(3, "acc_bob", default=True)):
            w.payment_methods.add(m)
        w.commit()
    with uow(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == [card(1, default=True), card(2)]
        assert r.payment_methods.get("card_2") == card(2)
        assert r.payment_methods.get("card_9") is None
        assert r.payment_methods.default_of("acc_ann") == card(1, default=True)
    with uow() as w:
        w.payment_methods.set_default("acc_ann", "card_2")
        w.commit()
    with uow(write=False) as r:
        assert [m.is_default for m in r.payment_methods.of_account("acc_ann")] == [False, True]
        assert r.payment_methods.default_of("acc_bob") == card(3, "acc_bob", default=True)
    with uow() as w:
        w.payment_methods.remove("card_2")
        w.payment_methods.set_default("acc_ann", None)
        w.commit()
    with uow(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == [card(1)]
        assert r.payment_methods.default_of("acc_ann") is None


def test_a_rolled_back_card_is_not_kept(engine: Engine) -> None:
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as w:
        w.accounts.add(Account("acc_ann", "Ann", frozenset({Role.RECIPIENT}), T0))
        w.commit()
    with uow() as w:
        w.payment_methods.add(card(1))
    with uow(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == []


def test_concurrent_saves_keep_the_limit_and_one_default(
    migrated_database_url: str, tmp_path: Path
) -> None:
    services = build_services(
        Settings(tmp_path, migrated_database_url),
        clock=ManualClock(T0),
        hasher=Argon2Hasher(time_cost=1, memory_kib=1024),
    )
    try:
        ann = services.bus.handle(Register("Ann", ("recipient",))).account
        outcomes: list[object] = []
        barrier = threading.Barrier(MAX_CARDS + 3)

        def save() -> None:
            barrier.wait()
            try:
                outcomes.append(
                    services.bus.handle(AddCard(ann.id, "4242424242424242", 12, 2030, "123"))
                )
            except Conflict as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=save) for _ in range(MAX_CARDS + 3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        saved = services.bus.handle(ListCards(ann.id))
        assert len(saved) == MAX_CARDS
        assert sum(isinstance(o, Conflict) for o in outcomes) == 3
        assert sum(m.is_default for m in saved) == 1
        engine: Engine = services.bus.uow_factory.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            stored = [r._asdict() for r in conn.execute(select(t.payment_methods))]
        assert not any("424242" in str(v) for row in stored for v in row.values())
        assert {row["last4"] for row in stored} == {"4242"}  # the only digits of the number kept
    finally:
        services.shutdown()
