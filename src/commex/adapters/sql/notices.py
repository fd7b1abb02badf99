"""Watchlists and notification centres in SQL. Adding notices fills the webhook outbox in the
same transaction: one ``INSERT … SELECT`` queues a delivery of every new notice to every active
webhook of its account that subscribes to its type."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from commex.adapters.sql import market_tables as m
from commex.adapters.sql import tables as t
from commex.domain.auctions import Auction
from commex.domain.notices import EventType, Notice
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


def _newest_after(created: Any, ident: Any, after: Key | None) -> list[ColumnElement[bool]]:
    if after is None:
        return []
    at, key_id = after[0], after[1]
    return [or_(created < at, and_(created == at, ident < key_id))]


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
            .where(w.account_id == account_id, *_newest_after(w.created_us, w.auction_id, after))
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
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_many(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        self._c.execute(
            m.notifications.insert(),
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
        self._queue_new(m.notifications.c.id.in_([n.id for n in notices]))

    def add_to_bidders(self, notice: Notice, auction_id: str, exclude: Iterable[str]) -> int:
        b = t.bids.c
        bidders = select(b.bidder_id).where(b.auction_id == auction_id).distinct()
        skip = sorted(set(exclude))
        if skip:
            bidders = bidders.where(b.bidder_id.not_in(skip))
        sub = bidders.subquery()
        rows = select(
            literal(f"{notice.id}-") + sub.c.bidder_id,
            sub.c.bidder_id,
            literal(notice.type.value),
            literal(notice.subject_id),
            literal(data_json(notice.data)),
            literal(to_micros(notice.created_at)),
        )
        n = m.notifications.c
        cols = [n.id, n.account_id, n.type, n.subject_id, n.data, n.created_us]
        insert = m.notifications.insert().from_select(cols, rows)
        added = self._c.execute(insert.execution_options(preserve_rowcount=True)).rowcount
        # From the (few) webhooks hearing this type to each one's copy, by its key.
        hooks, e = m.webhooks.c, m.webhook_events.c
        fanned = (
            select(m.webhooks)
            .join(m.webhook_events, e.webhook_id == hooks.id)
            .where(e.type == notice.type.value, hooks.active.is_(True))
            .subquery()
        )
        mine = m.notifications.join(fanned, n.id == literal(f"{notice.id}-") + fanned.c.account_id)
        self._queue(self._deliveries(mine, fanned.c.id))
        return int(added)

    @staticmethod
    def _deliveries(source: Any, webhook_id: Any) -> Select[Any]:
        n = m.notifications.c
        return select(
            webhook_id, n.id, n.type, literal(DeliveryStatus.PENDING.value), literal(0),
            n.created_us, n.created_us, n.created_us + _DAY_US,
        ).select_from(source)  # fmt: skip

    def _queue_new(self, which: ColumnElement[bool]) -> None:
        """The outbox: a pending delivery of each notice ``which`` picks to every active
        webhook of its account that subscribes to its type."""
        n, hooks, e = m.notifications.c, m.webhooks.c, m.webhook_events.c
        source = m.notifications.join(
            m.webhooks, and_(hooks.account_id == n.account_id, hooks.active.is_(True))
        ).join(m.webhook_events, and_(e.webhook_id == hooks.id, e.type == n.type))
        self._queue(self._deliveries(source, hooks.id).where(which))

    def _queue(self, rows: Select[Any]) -> None:
        d = m.webhook_deliveries
        cols = [
            d.c.webhook_id, d.c.event_id, d.c.event_type, d.c.status, d.c.attempts,
            d.c.next_attempt_us, d.c.created_us, d.c.give_up_us,
        ]  # fmt: skip
        self._c.execute(d.insert().from_select(cols, rows))

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
            n.account_id == account_id, *_newest_after(n.created_us, n.id, after)
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
