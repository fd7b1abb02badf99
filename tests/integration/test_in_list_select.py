"""A read by a list of ids, run as the driver's own SQL on SQLite, finds exactly the rows that
SQLAlchemy's expanding IN finds, for every length of list; a statement with parameters of its
own besides the list runs through SQLAlchemy."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, select

from commex.adapters.sql.bulk import InListSelect

metadata = MetaData()
things = Table("things", metadata, Column("id", String, primary_key=True), Column("n", Integer))
BY_IDS = select(things.c.id, things.c.n).where(things.c.id.in_(bindparam("ids", expanding=True)))


@pytest.mark.parametrize("wanted", [["t3"], ["t1", "t9", "nope"], [f"t{i}" for i in range(40)]])
def test_the_rows_found_are_those_sqlalchemy_finds(wanted: list[str]) -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    fast = InListSelect(BY_IDS.order_by(things.c.id), "ids")
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"id": f"t{i}", "n": i} for i in range(30)])
        expected = conn.execute(BY_IDS.order_by(things.c.id), {"ids": wanted}).all()
        for _ in range(2):  # the text made for this length, then kept
            found = fast.run(conn, wanted)
            assert [(r.id, r.n) for r in found] == [tuple(r) for r in expected]


def test_a_statement_with_other_parameters_runs_through_sqlalchemy() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    above = InListSelect(BY_IDS.where(things.c.n > bindparam("least")).order_by(things.c.n), "ids")
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"id": f"t{i}", "n": i} for i in range(5)])
        with pytest.raises(Exception, match="least"):  # SQLAlchemy's own check of its params
            above.run(conn, ["t1", "t4"])
