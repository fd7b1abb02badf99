"""The SQL adapters on SQLite and PostgreSQL: schema, round trips, unit-of-work semantics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import NoRatingsYet
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.adapters.sql.tables import metadata
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.domain.accounts import Account, Role
from commex.domain.auctions import (
    Auction,
    Bid,
    Direction,
    Eligibility,
    EnglishState,
    Format,
    Outcome,
    Status,
    Winner,
)
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms
from commex.services.exchange import Exchange

T0 = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


def _account(i: str, *roles: Role) -> Account:
    return Account(i, f"Account {i}", frozenset(roles), T0)


def _auction(**kw: object) -> Auction:
    base = Auction(
        id="auc_1",
        owner_id="acc_p",
        direction=Direction.FORWARD,
        format=Format.ENGLISH,
        title="Night-time data, 30 days",
        terms=ServiceTerms(
            "stream-processing",
            3600,
            T0 + timedelta(days=1),
            T0 + timedelta(days=31),
            64_000,
            2_000_000,
            4,
            ("transcode:pcmu", "dtmf"),
        ),
        currency="JPY",
        quantity=1,
        reserve=Money(Decimal(900), "JPY"),
        min_increment=Money(Decimal(5), "JPY"),
        soft_close_s=120,
        reputation_weight=Decimal("0.2500"),
        eligibility=Eligibility(None, 0.6, frozenset()),
        closes_at=T0 + timedelta(hours=2),
        created_at=T0,
        bid_count=3,
        bid_seq=3,
        english=EnglishState(
            "acc_r", "bid_3", Money(Decimal(1000), "JPY"), Money(Decimal(1500), "JPY")
        ),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_migrations_reach_head_and_match_the_tables(engine: Engine) -> None:
    assert current(engine) == head()
    assert upgrade(engine) == head()  # a second upgrade is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_account_round_trip(uow: SqlUnitOfWorkFactory) -> None:
    acc = _account("acc_1", Role.PROVIDER, Role.RECIPIENT)
    with uow() as u:
        u.accounts.add(acc, "hash-1")
        u.commit()
    with uow(write=False) as u:
        assert u.accounts.get("acc_1") == acc
        assert u.accounts.get("nobody") is None
        assert u.accounts.get_many(["acc_1", "nobody"]) == {"acc_1": acc}


def test_auction_bids_and_contracts_round_trip(uow: SqlUnitOfWorkFactory) -> None:
    auction = _auction()
    bids = [
        Bid(
            "bid_1",
            "auc_1",
            "acc_r",
            Money(Decimal(950), "JPY"),
            Money(Decimal(1500), "JPY"),
            1,
            T0,
        ),
        Bid("bid_2", "auc_1", "acc_s", Money(Decimal(990), "JPY"), None, 2, T0, proxy=False),
        Bid("bid_3", "auc_1", "acc_r", Money(Decimal(1000), "JPY"), None, 3, T0, proxy=True),
    ]
    with uow() as u:
        for a in ("acc_p", "acc_r", "acc_s"):
            u.accounts.add(_account(a, Role.PROVIDER, Role.RECIPIENT))
        u.auctions.add(auction)
        u.bids.add_many(bids)
        u.commit()
    with uow(write=False) as u:
        assert u.auctions.get("auc_1") == auction
        assert u.bids.for_auction("auc_1") == bids
        assert u.bids.for_auction("auc_1", "acc_r") == [bids[0], bids[2]]
        assert u.bids.get("bid_3") == bids[2]
    contract = Contract(
        "con_1", "auc_1", "bid_3", "acc_p", "acc_r", Money(Decimal(1000), "JPY"), auction.terms,
        ContractStatus.AWARDED, T0,
    )  # fmt: skip
    outcome = Outcome((Winner("bid_3", "acc_r", contract.price, "con_1"),), T0, "acc_p", None, "")
    closed = replace(auction, status=Status.CLOSED, outcome=outcome)
    with uow() as u:
        u.auctions.update(closed)
        u.contracts.add_many([contract])
        u.bids.deactivate(["bid_1"])
        u.commit()
    with uow(write=False) as u:
        assert u.auctions.get("auc_1") == closed
        assert u.contracts.get("con_1") == contract
        assert u.contracts.for_account("acc_r") == [contract]
        assert u.contracts.for_auction("auc_1") == [contract]
        assert [b.id for b in u.bids.active("auc_1")] == ["bid_2", "bid_3"]
        assert u.bids.own_active("auc_1", "acc_r") == bids[2]


def test_uncommitted_work_is_rolled_back(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.accounts.add(_account("acc_1", Role.PROVIDER))
    with pytest.raises(RuntimeError), uow() as u:
        u.accounts.add(_account("acc_2", Role.PROVIDER))
        raise RuntimeError("boom")
    with uow(write=False) as u:
        assert u.accounts.get_many(["acc_1", "acc_2"]) == {}


def test_a_constraint_violation_is_a_conflict(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.accounts.add(_account("acc_1", Role.PROVIDER))
        u.commit()
    with pytest.raises(Conflict), uow() as u:
        u.accounts.add(_account("acc_1", Role.PROVIDER))
        u.commit()


def test_due_and_pages_are_ordered(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.accounts.add(_account("acc_p", Role.PROVIDER))
        for i, minutes in enumerate((30, 10, 20)):
            u.auctions.add(
                _auction(
                    id=f"auc_{i}",
                    closes_at=T0 + timedelta(minutes=minutes),
                    created_at=T0 + timedelta(seconds=i),
                    english=EnglishState(),
                    bid_count=0,
                    bid_seq=0,
                )
            )
        u.auctions.add(
            _auction(id="auc_x", closes_at=T0, status=Status.CLOSED, english=EnglishState())
        )
        u.commit()
    with uow(write=False) as u:
        assert u.auctions.due(T0 + timedelta(minutes=25), 10) == ["auc_1", "auc_2"]
        assert u.auctions.due(T0 + timedelta(hours=1), 1) == ["auc_1"]
        assert [a.id for a in u.auctions.page(Status.OPEN, 10, 0)] == ["auc_2", "auc_1", "auc_0"]
        assert [a.id for a in u.auctions.page(Status.OPEN, 1, 1)] == ["auc_1"]
        assert [a.id for a in u.auctions.page(Status.CLOSED, 10, 0)] == ["auc_x"]


def test_the_exchange_runs_an_auction_on_the_database(uow: SqlUnitOfWorkFactory) -> None:
    clock = ManualClock(T0)
    ex = Exchange(uow, clock, SequentialIds(), NoRatingsYet())
    seller = ex.create_account("Seller", ["provider"])
    buyers = [ex.create_account(f"B{i}", ["recipient"]) for i in range(3)]
    auction = ex.create_auction(
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
    ex.place_bid(auction.id, buyers[0].id, "9.00")
    ex.place_bid(auction.id, buyers[0].id, "12.00")  # replaces the 9.00
    ex.place_bid(auction.id, buyers[1].id, "11.00")
    ex.place_bid(auction.id, buyers[2].id, "7.25")
    assert ex.view(auction.id, buyers[1].id).to_dict()["bid_count"] == 3
    clock.advance(301)
    (closed,) = ex.close_due()
    assert closed.outcome is not None
    assert [(w.bidder_id, str(w.price)) for w in closed.outcome.winners] == [
        (buyers[0].id, "7.25"),
        (buyers[1].id, "7.25"),
    ]
    assert ex.close_due() == []
    again = ex.close(auction.id, seller.id)
    assert again.outcome == closed.outcome
    contracts = ex.contracts_of(seller.id)
    assert sorted(c.recipient_id for c in contracts) == [buyers[0].id, buyers[1].id]
