"""The marketplace's stores: watchlists, notification centres with the
webhook outbox they fill, and webhook endpoints with their delivery log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commex.domain.auctions import Auction
from commex.domain.notices import EventType, Fanout, Notice
from commex.domain.paging import Key
from commex.domain.urls import Pinned
from commex.domain.webhooks import Attempt, Webhook, WebhookDelivery


@dataclass(frozen=True, slots=True)
class Watched:
    """An auction on an account's watchlist, and when it was added."""

    auction: Auction
    since: datetime


class WatchRepository(Protocol):
    def add(self, account_id: str, auction_id: str, now: datetime) -> bool:
        """Put the auction on the account's watchlist; False if it was there already."""
        ...

    def remove(self, account_id: str, auction_id: str) -> bool:
        """Take it off; False if it was not there."""
        ...

    def watching(self, account_id: str, auction_ids: Iterable[str]) -> set[str]:
        """Which of ``auction_ids`` the account watches."""
        ...

    def page(self, account_id: str, after: Key | None, limit: int) -> list[Watched]:
        """The account's watchlist, most recently added first, after the key
        ``(added in microseconds, auction id)``."""
        ...

    def claim_reminders(self, now: datetime, until: datetime, limit: int) -> dict[str, list[str]]:
        """Watchers not yet reminded of open auctions closing from ``now`` to ``until``, by
        auction id; each is marked reminded in the same statement, so it is told once however
        many processes ask at once."""
        ...


class NotificationRepository(Protocol):
    def add_many(self, notices: Sequence[Notice]) -> None:
        """Put each notice in its account's centre, and queue a delivery of it to every active
        webhook of that account that subscribes to its type (the outbox), in this
        transaction."""
        ...

    def add_fanout(self, fanout: Fanout) -> None:
        """Keep a notice still to be told to the rest of an auction's bidders."""
        ...

    def next_fanout(self) -> Fanout | None:
        """The oldest fan-out not yet done, with its row locked until the unit of work ends
        (so two processes never tell the same bidders)."""
        ...

    def advance_fanout(self, event_id: str, after: str | None) -> None:
        """Record how far a fan-out got (``after`` None: it is done)."""
        ...

    def page(
        self,
        account_id: str,
        after: Key | None,
        limit: int,
        *,
        unread_only: bool = False,
        types: frozenset[EventType] | None = None,
    ) -> list[Notice]:
        """The account's notices, newest first, after the key ``(created in microseconds,
        id)``."""
        ...

    def unread(self, account_id: str) -> int:
        """How many of the account's notices are unread."""
        ...

    def mark_read(self, account_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        """Mark the account's notices read (all of them when ``ids`` is None); how many were
        unread. Another account's ids are left alone."""
        ...


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for an attempt, its endpoint, and the notice it carries."""

    delivery: WebhookDelivery
    webhook: Webhook
    notice: Notice
    lease_until: datetime


class WebhookRepository(Protocol):
    def add(self, webhook: Webhook) -> None: ...

    def get(self, webhook_id: str) -> Webhook | None: ...

    def of_account(self, account_id: str) -> list[Webhook]:
        """The account's active webhooks, oldest first."""
        ...

    def deactivate(self, webhook_id: str) -> None:
        """Stop the webhook: nothing more is queued or sent to it (its log stays)."""
        ...

    def deliveries(self, webhook_id: str, after: Key | None, limit: int) -> list[WebhookDelivery]:
        """The webhook's deliveries, newest first, after the key ``(created in microseconds,
        id)``."""
        ...

    def delivery(self, delivery_id: str) -> WebhookDelivery | None: ...

    def attempts(self, delivery_id: str) -> list[Attempt]:
        """The delivery's attempts, oldest first."""
        ...

    def claim(
        self, now: datetime, lease_until: datetime, limit: int, skip: Iterable[str] = ()
    ) -> list[Claimed]:
        """Claim up to ``limit`` pending deliveries due by ``now`` (of active webhooks not in
        ``skip``, whose owners are not suspended: theirs wait until it is reinstated) until
        ``lease_until``: no other process claims them meanwhile (row locks skipped, not waited
        for, on PostgreSQL; an atomic update on SQLite)."""
        ...

    def finish(self, claimed: Claimed, delivery: WebhookDelivery, attempt: Attempt) -> bool:
        """Store the attempt and the delivery after it, if the claim still holds (it was not
        taken over after its lease ran out); False otherwise."""
        ...

    def update(self, delivery: WebhookDelivery) -> None:
        """Store a delivery asked for again (see :func:`~commex.domain.webhooks.redeliver`)."""
        ...


@dataclass(frozen=True, slots=True)
class Sent:
    """How one POST to a webhook went: the answer's status (None: no answer) or why not."""

    status: int | None
    error: str | None
    duration_ms: int


class WebhookTransport(Protocol):
    def send(
        self, target: Pinned, event: Mapping[str, object], secret: str, timestamp: int
    ) -> Sent:
        """POST ``event`` as JSON to the target's pinned address (the URL's host in the Host
        header and TLS name), signed with ``secret`` at ``timestamp`` (the
        ``Commex-Signature`` header); never raises, never follows a redirect, and gives up
        after its timeout."""
        ...
