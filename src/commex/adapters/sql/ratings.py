"""Ratings with the reputation tallies they move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, case, func, or_, select, update

from commex.adapters.sql import tables as t
from commex.adapters.sql.conflicts import execute_unique
from commex.domain.ratings import RatedRole, Rating
from commex.domain.reputation import PairTally, Tally
from commex.domain.time import from_micros, to_micros
from commex.services.ports.ratings import already_rated

# Built once: the bid path reads reputations in every batch (expanding lists of account ids).
_RECENT_COUNTS = (
    select(t.ratings.c.rated_id, func.count())
    .where(
        t.ratings.c.rated_id.in_(bindparam("ids", expanding=True)),
        t.ratings.c.rated_role == bindparam("role"),
        t.ratings.c.created_us >= bindparam("since"),
        t.ratings.c.hidden_us.is_(None),
        or_(t.ratings.c.worth.is_(None), t.ratings.c.worth > 0),
    )
    .group_by(t.ratings.c.rated_id)
)
_TALLIES = select(t.reputations).where(
    t.reputations.c.account_id.in_(bindparam("ids", expanding=True)),
    t.reputations.c.role == bindparam("role"),
)


def _rating(x: Row[Any]) -> Rating:
    return Rating(
        x.id, x.contract_id, x.rated_id, RatedRole(x.rated_role), x.rater_key,
        x.rater_account_id, x.device_id, bool(x.satisfied), x.score, x.comment,
        from_micros(x.created_us), 1.0 if x.weight is None else float(x.weight),
        1.0 if x.worth is None else float(x.worth),
        None if x.hidden_us is None else from_micros(x.hidden_us), x.hidden_reason,
    )  # fmt: skip


class SqlRatings:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, rating: Rating) -> None:
        values = {
            "id": rating.id,
            "contract_id": rating.contract_id,
            "rated_id": rating.rated_id,
            "rated_role": rating.rated_role.value,
            "rater_key": rating.rater_key,
            "rater_account_id": rating.rater_account_id,
            "device_id": rating.device_id,
            "satisfied": rating.satisfied,
            "score": rating.score,
            "comment": rating.comment,
            "created_us": to_micros(rating.created_at),
            "weight": rating.weight,
            "worth": rating.worth,
        }
        execute_unique(self._c, t.ratings.insert(), values, "rater_key", already_rated())

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool:
        r = t.ratings.c
        q = select(r.id).where(
            and_(r.contract_id == contract_id, r.rated_role == role, r.rater_key == rater_key)
        )
        return self._c.execute(q).first() is not None

    def of_contract(self, contract_id: str) -> list[Rating]:
        r = t.ratings.c
        q = select(t.ratings).where(r.contract_id == contract_id).order_by(r.created_us, r.id)
        return [_rating(x) for x in self._c.execute(q)]

    def get(self, rating_id: str) -> Rating | None:
        x = self._c.execute(select(t.ratings).where(t.ratings.c.id == rating_id)).first()
        return None if x is None else _rating(x)

    def hide(self, rating_id: str, at: datetime, reason: str) -> None:
        q = update(t.ratings).where(t.ratings.c.id == rating_id)
        self._c.execute(q.values(hidden_us=to_micros(at), hidden_reason=reason))

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        params = {"ids": ids, "role": role, "since": to_micros(since)}
        return {rated: int(n) for rated, n in self._c.execute(_RECENT_COUNTS, params)}

    def monthly(
        self, account_id: str, role: str, bounds: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        r = t.ratings.c
        edges = [to_micros(b) for b in bounds]
        period = case(
            *((r.created_us < edges[i + 1], i) for i in range(len(edges) - 1)), else_=None
        ).label("period")
        q = (
            select(period, r.satisfied, func.count())
            .where(r.rated_id == account_id, r.rated_role == role)
            .where(r.created_us >= edges[0], r.created_us < edges[-1])
            # as the reputation counts: a hidden rating, or one with nothing behind it, is out
            .where(r.hidden_us.is_(None), or_(r.worth.is_(None), r.worth > 0))
            .group_by(period, r.satisfied)
        )
        out = [[0, 0] for _ in range(len(edges) - 1)]
        for index, satisfied, count in self._c.execute(q):
            out[index][0 if satisfied else 1] += int(count)
        return [(good, bad) for good, bad in out]

    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        return {
            x.account_id: Tally(x.positive, x.negative, from_micros(x.as_of_us))
            for x in self._c.execute(_TALLIES, {"ids": ids, "role": role})
        }

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None:
        p = t.reputation_pairs.c
        q = select(t.reputation_pairs).where(
            and_(p.account_id == account_id, p.role == role, p.counterparty == counterparty)
        )
        x = self._c.execute(q).first()
        return None if x is None else PairTally(x.weight, from_micros(x.as_of_us))

    def put_tally(self, account_id: str, role: str, tally: Tally) -> None:
        r = t.reputations.c
        self._c.execute(
            t.reputations.delete().where(and_(r.account_id == account_id, r.role == role))
        )
        self._c.execute(
            t.reputations.insert().values(
                account_id=account_id,
                role=role,
                positive=tally.positive,
                negative=tally.negative,
                as_of_us=to_micros(tally.as_of),
            )
        )

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None:
        p = t.reputation_pairs.c
        self._c.execute(
            t.reputation_pairs.delete().where(
                and_(p.account_id == account_id, p.role == role, p.counterparty == counterparty)
            )
        )
        self._c.execute(
            t.reputation_pairs.insert().values(
                account_id=account_id,
                role=role,
                counterparty=counterparty,
                weight=pair.weight,
                as_of_us=to_micros(pair.as_of),
            )
        )
