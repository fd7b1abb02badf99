"""The audit trail (0011) and trust-and-safety (0012) migrations on a database that already
holds an exchange's rows at the subcontracts revision (0010), on SQLite and PostgreSQL: nothing
is lost, the end of each contract's window and the end of each closed subcontract are filled
in, and the scheduler then completes the contract whose window ended, never a subcontract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, MetaData, Table, insert, select

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.adapters.sql.rows import terms_json
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.domain.contracts import ContractKind, ContractStatus, EndReason
from commex.domain.terms import ServiceTerms
from commex.domain.time import to_micros

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WINDOW_END = T0 + timedelta(days=1)
CLOSED = T0 + timedelta(hours=2)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _us(moment: datetime) -> int:
    return to_micros(moment)


def _fill_at_0010(engine: Engine) -> None:
    """An auction's contract with a window, and two subcontracts under it: one the plane's
    check closed, one still open; as the 0010 schema stores them."""
    meta = MetaData()
    meta.reflect(engine, only=["accounts", "auctions", "contracts", "subcontracts"])
    tables: dict[str, Table] = dict(meta.tables)
    terms = ServiceTerms("voice", 3600, window_start=T0, window_end=WINDOW_END)
    step_terms = ServiceTerms("stream-processing", 3600, steps=("dtmf",))
    people = [("acc_p", "Northwind", "provider"), ("acc_r", "Acme", "recipient")]
    people.append(("acc_s", "Subworks", "provider"))
    contract = {
        "auction_id": "auc_1", "price_minor": 1250, "currency": "EUR", "created_us": _us(T0),
        "started_us": _us(T0), "window_start_us": None, "used_ms": 0, "parent_contract_id": None,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            insert(tables["accounts"]),
            [{"id": i, "name": n, "roles": r, "created_us": _us(T0)} for i, n, r in people],
        )
        conn.execute(
            insert(tables["auctions"]).values(
                id="auc_1",
                owner_id="acc_r",
                direction="reverse",
                format="first-price",
                title="a day of voice",
                terms=terms_json(terms),
                currency="EUR",
                quantity=1,
                min_increment_minor=1,
                soft_close_s=0,
                reputation_weight="0",
                eligibility=json.dumps({}),
                closes_us=_us(T0),
                created_us=_us(T0),
                status="closed",
                bid_count=0,
                bid_seq=0,
            )
        )
        conn.execute(
            insert(tables["contracts"]),
            [
                {**contract, "id": "con_1", "provider_id": "acc_p", "recipient_id": "acc_r",
                 "terms": terms_json(terms), "status": "active", "started_us": _us(T0),
                 "window_start_us": _us(T0), "kind": "auction"},
                {**contract, "id": "con_done", "provider_id": "acc_s", "recipient_id": "acc_p",
                 "terms": terms_json(step_terms), "status": "completed", "kind": "subcontract",
                 "parent_contract_id": "con_1"},
                {**contract, "id": "con_open", "provider_id": "acc_s", "recipient_id": "acc_p",
                 "terms": terms_json(step_terms), "status": "active", "kind": "subcontract",
                 "parent_contract_id": "con_1"},
            ],
        )  # fmt: skip
        conn.execute(
            insert(tables["subcontracts"]),
            [
                {"contract_id": "con_done", "step": "dtmf", "work_token_hash": "h1",
                 "packets": 4000, "outcome": "passed", "closed_us": _us(CLOSED)},
                {"contract_id": "con_open", "step": "dtmf", "work_token_hash": "h2",
                 "packets": 10, "outcome": None, "closed_us": None},
            ],
        )  # fmt: skip


def test_0011_to_0013_upgrade_a_database_with_rows(engine: Engine) -> None:
    assert upgrade(engine, to="0010_subcontracts") == "0010_subcontracts"
    _fill_at_0010(engine)
    assert upgrade(engine) == head()
    assert current(engine) == "0014_auction_version"
    uow = SqlUnitOfWorkFactory(engine)
    with uow(write=False) as u:
        parent = u.contracts.get("con_1")
        done = u.subcontracts.get("con_done")
        still_open = u.subcontracts.get("con_open")
        names = {a.id: a.name for a in u.accounts.get_many({"acc_p", "acc_r", "acc_s"}).values()}
    assert names == {"acc_p": "Northwind", "acc_r": "Acme", "acc_s": "Subworks"}
    assert parent is not None and parent.status is ContractStatus.ACTIVE
    assert parent.ended_at is None and parent.terms.window_end == WINDOW_END
    assert done is not None and done.contract.kind is ContractKind.SUBCONTRACT
    assert done.contract.status is ContractStatus.COMPLETED and done.packets == 4000
    assert (done.contract.ended_at, done.contract.end_reason) == (CLOSED, EndReason.CHECKED)
    assert still_open is not None and still_open.is_open and still_open.contract.in_force
    # the backfilled window end lets the scheduler find the parent, and only the parent
    with uow(write=False) as u:
        due = u.contracts.due_to_complete(WINDOW_END + timedelta(seconds=1), 10)
    assert [c.id for c in due] == ["con_1"]
    with engine.connect() as conn:
        accounts = Table("accounts", MetaData(), autoload_with=conn)
        folds = conn.execute(select(accounts.c.name_fold).order_by(accounts.c.id)).scalars()
        assert all(f for f in folds)
