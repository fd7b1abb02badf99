"""Webhooks in SQL: endpoints with the event types they hear, their deliveries (the outbox the
notification centres fill) and every attempt's log.

A delivery is claimed for an attempt by setting its lease (``claimed_until_us``): on PostgreSQL
the due rows are picked ``FOR UPDATE SKIP LOCKED``, so several servers share the work without
waiting on each other; on SQLite the unit of work already holds the write lock. The outcome is
stored only while the lease still holds (a conditional update), so a claim that ran out and was
taken over cannot be overwritten by the late first sender.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update

from commex.adapters.sql import market_tables as m
from commex.adapters.sql import tables as t
from commex.adapters.sql.notices import notice_of
from commex.domain.notices import EventType
from commex.domain.paging import Key
from commex.domain.time import from_micros, to_micros
from commex.domain.webhooks import Attempt, DeliveryStatus, Webhook, WebhookDelivery
from commex.services.ports.market import Claimed

_PREFIX = "whd_"


def delivery_number(delivery_id: str) -> int | None:
    """The row number behind a delivery id (``whd_42``), or None for anything else."""
    if not delivery_id.startswith(_PREFIX) or not delivery_id[len(_PREFIX) :].isdigit():
        return None
    number = int(delivery_id[len(_PREFIX) :])
    return number if number < 2**62 else None


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _at(us: int | None) -> datetime | None:
    return None if us is None else from_micros(us)


def _delivery(r: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        f"{_PREFIX}{r.id}", r.webhook_id, r.event_id, EventType(r.event_type),
        DeliveryStatus(r.status), r.attempts, _at(r.next_attempt_us), from_micros(r.created_us),
        from_micros(r.give_up_us), r.last_status, r.last_error, _at(r.delivered_us),
    )  # fmt: skip


class SqlWebhooks:
    def __init__(self, conn: Connection, skip_locked: bool) -> None:
        self._c = conn
        self._skip_locked = skip_locked

    def add(self, webhook: Webhook) -> None:
        self._c.execute(
            m.webhooks.insert(),
            {
                "id": webhook.id,
                "account_id": webhook.account_id,
                "url": webhook.url,
                "secret": webhook.secret,
                "created_us": to_micros(webhook.created_at),
                "active": webhook.active,
            },
        )
        kinds = sorted(e.value for e in webhook.events)
        self._c.execute(
            m.webhook_events.insert(), [{"webhook_id": webhook.id, "type": k} for k in kinds]
        )

    def _hooks(self, rows: Sequence[Row[Any]]) -> list[Webhook]:
        if not rows:
            return []
        e = m.webhook_events.c
        kinds: dict[str, set[EventType]] = {}
        q = select(e.webhook_id, e.type).where(e.webhook_id.in_([r.id for r in rows]))
        for k in self._c.execute(q):
            kinds.setdefault(k.webhook_id, set()).add(EventType(k.type))
        out = []
        for r in rows:
            heard = frozenset(kinds.get(r.id, ()))
            at = from_micros(r.created_us)
            out.append(Webhook(r.id, r.account_id, r.url, heard, r.secret, at, bool(r.active)))
        return out

    def get(self, webhook_id: str) -> Webhook | None:
        rows = self._c.execute(select(m.webhooks).where(m.webhooks.c.id == webhook_id)).all()
        found = self._hooks(rows)
        return found[0] if found else None

    def of_account(self, account_id: str) -> list[Webhook]:
        w = m.webhooks.c
        q = select(m.webhooks).where(w.account_id == account_id, w.active.is_(True))
        return self._hooks(self._c.execute(q.order_by(w.created_us, w.id)).all())

    def deactivate(self, webhook_id: str) -> None:
        w = m.webhooks
        self._c.execute(update(w).where(w.c.id == webhook_id).values(active=False))

    def deliveries(self, webhook_id: str, after: Key | None, limit: int) -> list[WebhookDelivery]:
        d = m.webhook_deliveries.c
        q = select(m.webhook_deliveries).where(d.webhook_id == webhook_id)
        if after is not None:
            at, number = after[0], after[1]
            q = q.where(or_(d.created_us < at, and_(d.created_us == at, d.id < number)))
        q = q.order_by(d.created_us.desc(), d.id.desc()).limit(limit)
        return [_delivery(r) for r in self._c.execute(q)]

    def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        number = delivery_number(delivery_id)
        if number is None:
            return None
        d = m.webhook_deliveries
        r = self._c.execute(select(d).where(d.c.id == number)).first()
        return None if r is None else _delivery(r)

    def attempts(self, delivery_id: str) -> list[Attempt]:
        number = delivery_number(delivery_id)
        a = m.webhook_attempts.c
        q = select(m.webhook_attempts).where(a.delivery_id == number).order_by(a.number)
        rows = self._c.execute(q).all()
        return [
            Attempt(
                delivery_id, r.number, from_micros(r.at_us), r.status_code, r.error, r.duration_ms
            )
            for r in rows
        ]

    def claim(
        self, now: datetime, lease_until: datetime, limit: int, skip: Iterable[str] = ()
    ) -> list[Claimed]:
        d, w = m.webhook_deliveries.c, m.webhooks.c
        now_us = to_micros(now)
        q = (
            select(d.id)
            .join(m.webhooks, w.id == d.webhook_id)
            .join(t.accounts, t.accounts.c.id == w.account_id)
            .where(
                d.status == DeliveryStatus.PENDING.value,
                d.next_attempt_us <= now_us,
                or_(d.claimed_until_us.is_(None), d.claimed_until_us < now_us),
                w.active.is_(True),
                t.accounts.c.suspended_us.is_(None),  # a suspended owner hears nothing
            )
            .order_by(d.next_attempt_us, d.id)
            .limit(limit)
        )
        skipped = sorted(set(skip))
        if skipped:
            q = q.where(d.webhook_id.not_in(skipped))
        if self._skip_locked:
            q = q.with_for_update(skip_locked=True, of=m.webhook_deliveries)
        ids = [r.id for r in self._c.execute(q)]
        if not ids:
            return []
        lease = to_micros(lease_until)
        self._c.execute(
            update(m.webhook_deliveries).where(d.id.in_(ids)).values(claimed_until_us=lease)
        )
        return self._claimed(ids, lease_until)

    def _claimed(self, ids: list[int], lease_until: datetime) -> list[Claimed]:
        d = m.webhook_deliveries.c
        rows = self._c.execute(
            select(m.webhook_deliveries).where(d.id.in_(ids)).order_by(d.next_attempt_us, d.id)
        ).all()
        hooks = {h.id: h for h in self._hooks(
            self._c.execute(
                select(m.webhooks).where(m.webhooks.c.id.in_({r.webhook_id for r in rows}))
            ).all()
        )}  # fmt: skip
        n = m.notifications.c
        notices = {
            r.id: notice_of(r)
            for r in self._c.execute(
                select(m.notifications).where(n.id.in_({r.event_id for r in rows}))
            )
        }
        return [
            Claimed(_delivery(r), hooks[r.webhook_id], notices[r.event_id], lease_until)
            for r in rows
        ]

    def finish(self, claimed: Claimed, delivery: WebhookDelivery, attempt: Attempt) -> bool:
        d = m.webhook_deliveries.c
        number = delivery_number(delivery.id)
        stored = self._c.execute(
            update(m.webhook_deliveries)
            .where(d.id == number, d.claimed_until_us == to_micros(claimed.lease_until))
            .values(claimed_until_us=None, **self._state(delivery))
        )
        if stored.rowcount != 1:
            return False
        self._c.execute(
            m.webhook_attempts.insert(),
            {
                "delivery_id": number,
                "number": attempt.number,
                "at_us": to_micros(attempt.at),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            },
        )
        return True

    @staticmethod
    def _state(delivery: WebhookDelivery) -> dict[str, Any]:
        return {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "next_attempt_us": _us(delivery.next_attempt_at),
            "give_up_us": to_micros(delivery.give_up_at),
            "last_status": delivery.last_status,
            "last_error": delivery.last_error,
            "delivered_us": _us(delivery.delivered_at),
        }

    def update(self, delivery: WebhookDelivery) -> None:
        d = m.webhook_deliveries
        number = delivery_number(delivery.id)
        self._c.execute(update(d).where(d.c.id == number).values(**self._state(delivery)))
