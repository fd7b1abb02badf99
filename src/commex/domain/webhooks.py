"""Webhooks for programs (O4): an account's endpoints, the events each subscribes to, the
signature every delivery carries, and the schedule of retries.

A delivery is the body ``{"id", "type", "created_at", "data"}`` of one notice, POSTed with the
header ``Commex-Signature: t=UNIX_TIME,v1=HEX``, where HEX is the HMAC-SHA256 of
``"{t}.{body}"`` under the endpoint's secret. Delivery is at least once: an answer other than
2xx (or none) is tried again, first after :data:`FIRST_RETRY`, each wait twice the last (at most
:data:`LONGEST_WAIT`), until :data:`GIVE_UP_AFTER` has passed since the event; the receiver drops
repeats by the event id.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from commex.domain.errors import InvalidInput
from commex.domain.notices import EventType, Notice

SIGNATURE_HEADER = "Commex-Signature"
MAX_WEBHOOKS = 10
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=1)
CLAIM_LEASE = timedelta(seconds=60)  # longer than any request may take (see the sender)
MAX_ERROR = 300
TOLERANCE_S = 300  # how old a signature a receiver should accept (the README's snippet)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # no 2xx within a day; may be delivered again by hand


@dataclass(frozen=True, slots=True)
class Webhook:
    """An account's endpoint and the event types it hears. ``secret`` signs every delivery:
    shown once at creation, kept to sign (an HMAC key cannot be kept as a hash)."""

    id: str
    account_id: str
    url: str
    events: frozenset[EventType]
    secret: str
    created_at: datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One notice on its way to one endpoint, and how its attempts went."""

    id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    give_up_at: datetime  # no retry is scheduled after this (a day after the event)
    last_status: int | None = None  # the last answer's HTTP status (None: no answer)
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a delivery, for its log."""

    delivery_id: str
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Commex-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_S) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds
    old: what a receiver checks (the README shows the same in a few lines)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    expected = signature(secret, int(stamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def after_attempt(delivery: WebhookDelivery, attempt: Attempt, now: datetime) -> WebhookDelivery:
    """The delivery once ``attempt`` is over: delivered on a 2xx; otherwise tried again after
    a wait that doubles with every attempt, or failed once its day of retries is over."""
    done = replace(
        delivery,
        attempts=delivery.attempts + 1,
        last_status=attempt.status_code,
        last_error=None if attempt.error is None else attempt.error[:MAX_ERROR],
    )
    if attempt.ok:
        return replace(
            done, status=DeliveryStatus.DELIVERED, next_attempt_at=None, delivered_at=now
        )
    wait = min(FIRST_RETRY * (2 ** min(delivery.attempts, 20)), LONGEST_WAIT)
    if now + wait > delivery.give_up_at:
        return replace(done, status=DeliveryStatus.FAILED, next_attempt_at=None)
    return replace(done, status=DeliveryStatus.PENDING, next_attempt_at=now + wait)


def redeliver(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """The delivery asked for again by its account: tried at once, and on failure again for a
    day from now, however it ended before."""
    return replace(
        delivery,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        give_up_at=now + GIVE_UP_AFTER,
        delivered_at=None,
    )


def check_count(existing: int) -> None:
    if existing >= MAX_WEBHOOKS:
        raise InvalidInput(
            f"an account has at most {MAX_WEBHOOKS} webhooks: remove one first", "url"
        )


def event_of(notice: Notice) -> dict[str, object]:
    """What a delivery carries: the notice as the event ``{"id", "type", "created_at",
    "data"}`` (the id is the same in every retry, for the receiver to drop repeats)."""
    return {
        "id": notice.id,
        "type": notice.type.value,
        "created_at": notice.created_at.isoformat(),
        "data": dict(notice.data),
    }
