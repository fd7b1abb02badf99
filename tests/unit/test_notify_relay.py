"""The PostgreSQL change relay's sending side: a broken connection is closed and replaced."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from commex.adapters.events import ChangeHub
from commex.adapters.sql import notify


class _Conn:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.closed = False
        self.sent: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        if self.fail:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        self.sent.append(params)

    def close(self) -> None:
        self.closed = True


def test_a_failed_notify_closes_its_connection_and_the_next_one_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[_Conn] = []
    timeouts: list[Any] = []

    def connect(conninfo: str, **kw: Any) -> _Conn:
        timeouts.append(kw.get("connect_timeout"))
        conn = _Conn(fail=not opened)  # the first connection breaks, the second works
        opened.append(conn)
        return conn

    monkeypatch.setattr(psycopg, "connect", connect)
    relay = notify.PgRelay("postgresql+psycopg://u:p@localhost/commex", ChangeHub())
    relay.notify({"A2"})
    assert opened[0].closed  # the broken one's socket is not left open
    relay.notify({"A3", "A1"})
    assert len(opened) == 2 and opened[1].sent == [(notify.CHANNEL, "A1,A3")]
    assert all(t is not None and t > 0 for t in timeouts)  # a commit never waits unbounded
    relay.stop()
    assert opened[1].closed
