"""A desk's units of work run one after another on one held connection: what one commits the
next sees; a failed one gives its connection back, and the next takes one from the pool again;
releasing gives it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import upgrade
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.domain.errors import Conflict
from commex.domain.throttling import ThrottleState
from support.moments import T0


def test_units_of_work_in_turn_share_one_connection_until_one_fails(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'commex.db'}")
    upgrade(engine)
    factory = SqlUnitOfWorkFactory(engine)
    held = factory.on_one_connection()
    try:
        with held() as first:
            first.throttles.put("k", ThrottleState(1, T0, T0))
            first.commit()
            used = first._conn  # type: ignore[attr-defined]
        with held() as second:
            assert second._conn is used  # type: ignore[attr-defined]
            assert second.throttles.get("k") == ThrottleState(1, T0, T0)
        with pytest.raises(Conflict), held():
            raise Conflict("a batch failed")
        with held() as after:
            # taken from the pool again (and reset there), not the one the failure left
            assert after._conn is not used and used.closed  # type: ignore[attr-defined]
            after.commit()
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        held.release()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        held.release()
        factory.dispose()
