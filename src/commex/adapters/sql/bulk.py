"""Many rows into one table in one ``executemany`` of the driver, for the hot path's inserts
(a batch's bids, its audit entries) and updates (bids made inactive, auctions bid on); and the
hot path's reads by a list of ids (:class:`InListSelect`).

SQLAlchemy's own ``execute(insert, rows)`` processes every row's parameters in Python against
the compiled statement, which costs more than the insert itself for a batch of small rows. A
:class:`BulkInsert` compiles its statement once per dialect and hands the driver plain rows in
the dialect's own parameter style; the columns' values must be what the driver takes as they
are (strings, integers, booleans, None), which is all these tables hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, CursorResult, Select, Table
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase


class BulkInsert:
    """``INSERT INTO table (columns) VALUES (...)`` for many rows at once."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self._insert = table.insert().values({c: None for c in columns})
        self._columns = tuple(columns)
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        sql, order = self._for(conn)
        params: list[Any]
        if order is None:
            params = [{c: row[c] for c in self._columns} for row in rows]
        else:
            values = _values_of(order)
            params = [values(row) for row in rows]
        conn.exec_driver_sql(sql, params)

    def _for(self, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled, order = _compile(self._insert, conn, column_keys=list(self._columns))
            found = self._compiled[conn.dialect.name] = (str(compiled), order)
        return found


def _compile(
    statement: UpdateBase, conn: Connection, **kw: Any
) -> tuple[SQLCompiler, tuple[str, ...] | None]:
    """``statement`` compiled for ``conn``'s dialect, and its parameters' order when the
    driver takes them by position (None when it takes them by name)."""
    compiled = statement.compile(dialect=conn.dialect, **kw)
    positional = compiled.positiontup if conn.dialect.positional else None
    return compiled, None if positional is None else tuple(positional)


def _values_of(order: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values in ``order``, as a tuple, read in one call."""
    if len(order) == 1:
        (only,) = order
        return lambda row: (row[only],)
    return itemgetter(*order)


class BulkStatement:
    """Any insert or update with named bind parameters, run for many rows at once: each row
    gives the parameters by name; a parameter a row leaves out takes the value the statement
    was built with (``.values(active=False)``)."""

    def __init__(self, statement: UpdateBase) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        sql, order, defaults = self._for(conn)
        params: list[Any]
        if order is None:
            params = [defaults | dict(row) for row in rows]
        else:
            params = [tuple(row.get(k, defaults.get(k)) for k in order) for row in rows]
        conn.exec_driver_sql(sql, params)

    def _for(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled, order = _compile(self._statement, conn)
            sql = str(compiled)
            defaults = {
                k: b.effective_value
                for k, b in compiled.binds.items()
                if not b.required and (order is not None or f"%({k})s" in sql)
            }
            found = self._compiled[conn.dialect.name] = (sql, order, defaults)
        return found


class InListSelect:
    """A select whose one parameter is an IN list (``bindparam(name, expanding=True)``), run
    as the driver's own SQL where the driver takes parameters by position (SQLite): its text
    for each length of list is made once, where SQLAlchemy would expand the list and process
    the parameters in Python for every call. Rows are read by column name as usual; the
    columns must be what the driver gives as they are (text, integers). Other drivers run the
    statement through SQLAlchemy."""

    _MAX_LENGTHS = 1024  # texts kept per statement (a batch's ids number 256 at most)

    def __init__(self, statement: Select[Any], name: str) -> None:
        self._statement = statement
        self._name = name
        self._texts: dict[tuple[str, int], str | None] = {}

    def run(self, conn: Connection, values: Sequence[Any]) -> CursorResult[Any]:
        if conn.dialect.positional:
            text = self._text(conn, len(values))
            if text is not None:
                return conn.exec_driver_sql(text, tuple(values))
        return conn.execute(self._statement, {self._name: list(values)})

    def _text(self, conn: Connection, length: int) -> str | None:
        """The statement's text for ``length`` values, or None if its parameters are not
        just the list's, in order (then it runs through SQLAlchemy)."""
        key = (conn.dialect.name, length)
        if key in self._texts:
            return self._texts[key]
        compiled = self._statement.params({self._name: [None] * length}).compile(
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
        )
        expected = [f"{self._name}_{i}" for i in range(1, length + 1)]
        text = str(compiled) if list(compiled.positiontup or ()) == expected else None
        if len(self._texts) >= self._MAX_LENGTHS:
            self._texts.clear()
        self._texts[key] = text
        return text
