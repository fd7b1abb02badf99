"""In-memory watchlists, notification centres (with the webhook outbox they fill) and
webhooks with their delivery log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.auctions import Status
from commex.domain.notices import EventType, Fanout, Notice
from commex.domain.paging import Key
from commex.domain.time import to_micros
from commex.domain.webhooks import (
    GIVE_UP_AFTER,
    Attempt,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
)
from commex.services.ports.market import Claimed, Watched

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


def _newest_first(key: tuple[int, str], after: Key | None) -> bool:
    return after is None or key < (int(after[0] or 0), str(after[1]))


class MemoryWatches:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, account_id: str, auction_id: str, now: datetime) -> bool:
        if (account_id, auction_id) in self._s.watches:
            return False
        self._s.watches[(account_id, auction_id)] = (now, None)
        return True

    def remove(self, account_id: str, auction_id: str) -> bool:
        return self._s.watches.pop((account_id, auction_id), None) is not None

    def watching(self, account_id: str, auction_ids: Iterable[str]) -> set[str]:
        return {i for i in auction_ids if (account_id, i) in self._s.watches}

    def page(self, account_id: str, after: Key | None, limit: int) -> list[Watched]:
        mine = [
            ((to_micros(since), auction_id), Watched(self._s.auctions[auction_id], since))
            for (who, auction_id), (since, _) in self._s.watches.items()
            if who == account_id
        ]
        mine.sort(key=lambda p: p[0], reverse=True)
        return [w for k, w in mine if _newest_first(k, after)][:limit]

    def claim_reminders(self, now: datetime, until: datetime, limit: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        due = sorted(
            (key for key, (_, reminded) in self._s.watches.items() if reminded is None),
            key=lambda k: (self._s.auctions[k[1]].closes_at, k),
        )
        for account_id, auction_id in due:
            auction = self._s.auctions[auction_id]
            if auction.status is Status.OPEN and now < auction.closes_at <= until and limit > 0:
                since, _ = self._s.watches[(account_id, auction_id)]
                self._s.watches[(account_id, auction_id)] = (since, now)
                out.setdefault(auction_id, []).append(account_id)
                limit -= 1
        return out


class MemoryNotifications:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, notices: Sequence[Notice]) -> None:
        for n in notices:
            self._s.notices[n.id] = n
            self._queue(n)

    def add_fanout(self, fanout: Fanout) -> None:
        self._s.fanouts[fanout.notice.id] = fanout

    def next_fanout(self) -> Fanout | None:
        waiting = sorted(self._s.fanouts.values(), key=lambda f: (f.notice.created_at, f.notice.id))
        return waiting[0] if waiting else None

    def advance_fanout(self, event_id: str, after: str | None) -> None:
        if after is None:
            self._s.fanouts.pop(event_id, None)
        else:
            self._s.fanouts[event_id] = replace(self._s.fanouts[event_id], after=after)

    def _queue(self, n: Notice) -> None:
        """The outbox: a delivery to each active webhook of the account hearing this type."""
        for hook in self._s.webhooks.values():
            if hook.account_id == n.account_id and hook.active and n.type in hook.events:
                self._s.delivery_seq += 1
                delivery = WebhookDelivery(
                    f"whd_{self._s.delivery_seq}", hook.id, n.id, n.type, DeliveryStatus.PENDING,
                    0, n.created_at, n.created_at, n.created_at + GIVE_UP_AFTER,
                )  # fmt: skip
                self._s.deliveries_out[delivery.id] = (delivery, None)

    def page(
        self,
        account_id: str,
        after: Key | None,
        limit: int,
        *,
        unread_only: bool = False,
        types: frozenset[EventType] | None = None,
    ) -> list[Notice]:
        mine = [
            ((to_micros(n.created_at), n.id), n)
            for n in self._s.notices.values()
            if n.account_id == account_id
            and not (unread_only and n.read)
            and (types is None or n.type in types)
        ]
        mine.sort(key=lambda p: p[0], reverse=True)
        return [n for k, n in mine if _newest_first(k, after)][:limit]

    def unread(self, account_id: str) -> int:
        return sum(1 for n in self._s.notices.values() if n.account_id == account_id and not n.read)

    def mark_read(self, account_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        wanted = None if ids is None else set(ids)
        count = 0
        for n in list(self._s.notices.values()):
            if n.account_id == account_id and not n.read and (wanted is None or n.id in wanted):
                self._s.notices[n.id] = replace(n, read_at=now)
                count += 1
        return count


class MemoryWebhooks:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, webhook: Webhook) -> None:
        self._s.webhooks[webhook.id] = webhook

    def get(self, webhook_id: str) -> Webhook | None:
        return self._s.webhooks.get(webhook_id)

    def of_account(self, account_id: str) -> list[Webhook]:
        found = [w for w in self._s.webhooks.values() if w.account_id == account_id and w.active]
        return sorted(found, key=lambda w: (w.created_at, w.id))

    def deactivate(self, webhook_id: str) -> None:
        hook = self._s.webhooks.get(webhook_id)
        if hook is not None:
            self._s.webhooks[webhook_id] = replace(hook, active=False)

    def deliveries(self, webhook_id: str, after: Key | None, limit: int) -> list[WebhookDelivery]:
        mine = [
            ((to_micros(d.created_at), _number(d.id)), d)
            for d, _ in self._s.deliveries_out.values()
            if d.webhook_id == webhook_id
        ]
        mine.sort(key=lambda p: p[0], reverse=True)
        if after is not None:
            start = (int(after[0] or 0), int(after[1] or 0))
            mine = [p for p in mine if p[0] < start]
        return [d for _, d in mine][:limit]

    def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        found = self._s.deliveries_out.get(delivery_id)
        return None if found is None else found[0]

    def attempts(self, delivery_id: str) -> list[Attempt]:
        found = [a for a in self._s.webhook_attempts.values() if a.delivery_id == delivery_id]
        return sorted(found, key=lambda a: a.number)

    def claim(
        self, now: datetime, lease_until: datetime, limit: int, skip: Iterable[str] = ()
    ) -> list[Claimed]:
        skipped = set(skip)
        due = sorted(
            (
                d
                for d, claimed in self._s.deliveries_out.values()
                if d.status is DeliveryStatus.PENDING
                and d.next_attempt_at is not None
                and d.next_attempt_at <= now
                and (claimed is None or claimed < now)
                and d.webhook_id not in skipped
                and self._s.webhooks[d.webhook_id].active
                and not self._s.accounts[self._s.webhooks[d.webhook_id].account_id].suspended
            ),
            key=lambda d: (d.next_attempt_at, _number(d.id)),
        )[:limit]
        out = []
        for d in due:
            self._s.deliveries_out[d.id] = (d, lease_until)
            out.append(
                Claimed(d, self._s.webhooks[d.webhook_id], self._s.notices[d.event_id], lease_until)
            )
        return out

    def finish(self, claimed: Claimed, delivery: WebhookDelivery, attempt: Attempt) -> bool:
        current = self._s.deliveries_out.get(delivery.id)
        if current is None or current[1] != claimed.lease_until:
            return False
        self._s.deliveries_out[delivery.id] = (delivery, None)
        self._s.webhook_attempts[(delivery.id, attempt.number)] = attempt
        return True

    def update(self, delivery: WebhookDelivery) -> None:
        _, claimed = self._s.deliveries_out[delivery.id]
        self._s.deliveries_out[delivery.id] = (delivery, claimed)


def _number(delivery_id: str) -> int:
    return int(delivery_id.rsplit("_", 1)[1])
