"""Watchlists and notification centres in SQL. Adding notices fills the webhook outbox in the
same transaction: one ``INSERT … SELECT`` queues a delivery of every new notice to every active
webhook of its account that subscribes to its type."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    func,
    literal,
    select,
    tuple_,
    update,
)

from commex.adapters.sql import market_tables as m
from commex.adapters.sql import tables as t
from commex.adapters.sql.rows import newest_after
from commex.domain.auctions import Auction
from commex.domain.notices import EventType, Fanout, Notice
from commex.domain.paging import Key
from commex.domain.time import from_micros, to_micros
from commex.domain.webhooks import GIVE_UP_AFTER, DeliveryStatus
from commex.services.ports.market import Watched

_DAY_US = int(GIVE_UP_AFTER.total_seconds()) * 1_000_000


def data_json(data: Any) -> str:
    """A notice's data as stored and sent: compact, keys sorted, so a body never changes."""
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"))


def notice_of(r: Row[Any]) -> Notice:
    return Notice(
        r.id, r.account_id, EventType(r.type), r.subject_id, json.loads(r.data),
        from_micros(r.created_us), None if r.read_us is None else from_micros(r.read_us),
    )  # fmt: skip


def _queue_statement() -> Any:
    """INSERT … SELECT of the outbox rows for the notices ``:ids`` (built once: on the bid
    path, building it anew would cost more than running it)."""
    n, hooks, e, d = m.notifications.c, m.webhooks.c, m.webhook_events.c, m.webhook_deliveries
    rows = (
        select(
            hooks.id,
            n.id,
            n.type,
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            n.created_us,
            n.created_us,
            n.created_us + _DAY_US,
        )
        .select_from(m.notifications)
        .join(m.webhooks, and_(hooks.account_id == n.account_id, hooks.active.is_(True)))
        .join(m.webhook_events, and_(e.webhook_id == hooks.id, e.type == n.type))
        .where(n.id.in_(bindparam("ids", expanding=True)))
    )
    cols = [
        d.c.webhook_id, d.c.event_id, d.c.event_type, d.c.status, d.c.attempts,
        d.c.next_attempt_us, d.c.created_us, d.c.give_up_us,
    ]  # fmt: skip
    return d.insert().from_select(cols, rows)


_QUEUE = _queue_statement()
_INSERT = m.notifications.insert()


class SqlWatches:
    def __init__(self, conn: Connection, auctions: Callable[[Iterable[Row[Any]]], list[Auction]]):
        self._c = conn
        self._auctions = auctions

    def add(self, account_id: str, auction_id: str, now: datetime) -> bool:
        w = m.watches.c
        found = self._c.execute(
            select(w.account_id).where(w.account_id == account_id, w.auction_id == auction_id)
        ).first()
        if found is not None:
            return False
        values = {"account_id": account_id, "auction_id": auction_id}
        self._c.execute(m.watches.insert(), values | {"created_us": to_micros(now)})
        return True

    def remove(self, account_id: str, auction_id: str) -> bool:
        w = m.watches.c
        gone = self._c.execute(
            m.watches.delete().where(w.account_id == account_id, w.auction_id == auction_id)
        )
        return gone.rowcount > 0

    def watching(self, account_id: str, auction_ids: Iterable[str]) -> set[str]:
        ids = list(set(auction_ids))
        if not ids:
            return set()
        w = m.watches.c
        q = select(w.auction_id).where(w.account_id == account_id, w.auction_id.in_(ids))
        return {r.auction_id for r in self._c.execute(q)}

    def page(self, account_id: str, after: Key | None, limit: int) -> list[Watched]:
        w = m.watches.c
        q = (
            select(t.auctions, w.created_us.label("watched_us"))
            .join(m.watches, w.auction_id == t.auctions.c.id)
            .where(w.account_id == account_id, *newest_after(w.created_us, w.auction_id, after))
            .order_by(w.created_us.desc(), w.auction_id.desc())
            .limit(limit)
        )
        rows = self._c.execute(q).all()
        auctions = self._auctions(rows)
        return [Watched(x, from_micros(r.watched_us)) for x, r in zip(auctions, rows, strict=True)]

    def claim_reminders(self, now: datetime, until: datetime, limit: int) -> dict[str, list[str]]:
        w, a = m.watches.c, t.auctions.c
        due = (
            select(w.account_id, w.auction_id)
            .join(t.auctions, a.id == w.auction_id)
            .where(
                w.reminded_us.is_(None),
                a.status == "open",
                a.closes_us > to_micros(now),
                a.closes_us <= to_micros(until),
            )
            .order_by(a.closes_us, w.auction_id, w.account_id)
            .limit(limit)
        )
        claimed = self._c.execute(
            update(m.watches)
            .where(w.reminded_us.is_(None), tuple_(w.account_id, w.auction_id).in_(due))
            .values(reminded_us=to_micros(now))
            .returning(w.account_id, w.auction_id)
        ).all()
        out: dict[str, list[str]] = {}
        for r in sorted(claimed, key=lambda r: (r.auction_id, r.account_id)):
            out.setdefault(r.auction_id, []).append(r.account_id)
        return out


class SqlNotifications:
    def __init__(self, conn: Connection, lock_rows: bool) -> None:
        self._c = conn
        self._lock_rows = lock_rows

    def add_many(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        self._c.execute(
            _INSERT,
            [
                {
                    "id": n.id,
                    "account_id": n.account_id,
                    "type": n.type.value,
                    "subject_id": n.subject_id,
                    "data": data_json(n.data),
                    "created_us": to_micros(n.created_at),
                    "read_us": None if n.read_at is None else to_micros(n.read_at),
                }
                for n in notices
            ],
        )
        self._queue([n.id for n in notices])

    def add_fanout(self, fanout: Fanout) -> None:
        n = fanout.notice
        self._c.execute(
            m.notice_fanouts.insert(),
            {
                "event_id": n.id,
                "auction_id": fanout.auction_id,
                "type": n.type.value,
                "subject_id": n.subject_id,
                "data": data_json(n.data),
                "created_us": to_micros(n.created_at),
                "exclude": json.dumps(sorted(fanout.exclude)),
                "after_bidder": fanout.after,
            },
        )

    def next_fanout(self) -> Fanout | None:
        f = m.notice_fanouts.c
        q = select(m.notice_fanouts).order_by(f.created_us, f.event_id).limit(1)
        if self._lock_rows:
            q = q.with_for_update(skip_locked=True)
        r = self._c.execute(q).first()
        if r is None:
            return None
        notice = Notice(
            r.event_id, "", EventType(r.type), r.subject_id, json.loads(r.data),
            from_micros(r.created_us),
        )  # fmt: skip
        return Fanout(notice, r.auction_id, frozenset(json.loads(r.exclude)), r.after_bidder)

    def advance_fanout(self, event_id: str, after: str | None) -> None:
        f = m.notice_fanouts
        if after is None:
            self._c.execute(f.delete().where(f.c.event_id == event_id))
        else:
            self._c.execute(update(f).where(f.c.event_id == event_id).values(after_bidder=after))

    def _queue(self, ids: list[str]) -> None:
        """The outbox: a pending delivery of each of these notices to every active webhook of
        its account that subscribes to its type."""
        self._c.execute(_QUEUE, {"ids": ids})

    def page(
        self,
        account_id: str,
        after: Key | None,
        limit: int,
        *,
        unread_only: bool = False,
        types: frozenset[EventType] | None = None,
    ) -> list[Notice]:
        n = m.notifications.c
        q = select(m.notifications).where(
            n.account_id == account_id, *newest_after(n.created_us, n.id, after)
        )
        if unread_only:
            q = q.where(n.read_us.is_(None))
        if types is not None:
            q = q.where(n.type.in_(sorted(x.value for x in types)))
        q = q.order_by(n.created_us.desc(), n.id.desc()).limit(limit)
        return [notice_of(r) for r in self._c.execute(q)]

    def unread(self, account_id: str) -> int:
        n = m.notifications.c
        q = select(func.count()).where(n.account_id == account_id, n.read_us.is_(None))
        return int(self._c.execute(q).scalar_one())

    def mark_read(self, account_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        n = m.notifications.c
        q = update(m.notifications).where(n.account_id == account_id, n.read_us.is_(None))
        if ids is not None:
            q = q.where(n.id.in_(list(ids)))
        return int(self._c.execute(q.values(read_us=to_micros(now))).rowcount)
