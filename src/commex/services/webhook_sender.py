"""Sending webhook deliveries, outside any request (a background worker in ``commex serve``).

Deliveries wait in the outbox the notification centre fills in each change's transaction. The
sender claims the due ones in a short transaction (a lease, so several server processes share
the work and none sends a delivery another holds), posts each from a small pool of threads, and
stores each outcome in another short transaction. No transaction is open while a request is in
flight, at most one delivery per endpoint is in flight from a process (so one slow or dead
endpoint holds one thread, never the others' deliveries), and nothing here runs on a request's
path: a slow endpoint never slows the exchange.

Each send resolves the endpoint's host again and checks the address (DNS may have changed since
the webhook was registered), then connects to that very address.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from commex.domain.errors import InvalidInput
from commex.domain.time import to_micros
from commex.domain.webhooks import CLAIM_LEASE, Attempt, WebhookDelivery, after_attempt, event_of
from commex.services.bus import MessageBus
from commex.services.ports.market import Claimed, Sent, WebhookTransport

log = logging.getLogger("commex.webhooks")


class WebhookSender:
    """Claims due deliveries and sends them: :meth:`start` runs it in the background,
    :meth:`deliver_due` sends what is due here and now."""

    def __init__(
        self,
        bus: MessageBus,
        transport: WebhookTransport,
        *,
        workers: int = 8,
        interval: float = 0.5,
    ) -> None:
        self._bus = bus
        self._transport = transport
        self._workers = workers
        self._interval = interval
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()  # webhook id -> deliveries in flight here
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="commex-webhook")
        self._thread = threading.Thread(target=self._run, name="commex-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next tick (new notices)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump()
            except Exception:  # keep sending later deliveries whatever one failure was
                log.exception("claiming webhook deliveries failed; retrying")
            self._wake.wait(self._interval)
            self._wake.clear()

    def pump(self) -> int:
        """Claim as many due deliveries as there are idle threads (none for an endpoint this
        process is already sending to) and hand each to a thread; how many were handed."""
        assert self._pool is not None, "start() first"
        with self._lock:
            free = self._workers - sum(self._busy.values())
            skip = set(self._busy)
        if free <= 0:
            return 0
        claimed = self._claim(free, skip)
        for c in claimed:
            with self._lock:
                self._busy[c.webhook.id] += 1
            self._pool.submit(self._send_and_release, c)
        return len(claimed)

    def _send_and_release(self, claimed: Claimed) -> None:
        try:
            self.deliver(claimed)
        except Exception:
            log.exception("webhook delivery %s failed to be recorded", claimed.delivery.id)
        finally:
            with self._lock:
                self._busy[claimed.webhook.id] -= 1
                if self._busy[claimed.webhook.id] <= 0:
                    del self._busy[claimed.webhook.id]
            self._wake.set()

    def deliver_due(self, limit: int = 1000) -> list[WebhookDelivery]:
        """Claim and send what is due, one delivery at a time, in this thread; the deliveries
        as they ended (a failed one is scheduled again, so it is not due twice here)."""
        done: list[WebhookDelivery] = []
        while len(done) < limit:
            claimed = self._claim(1, ())
            if not claimed:
                break
            done.append(self.deliver(claimed[0]))
        return done

    def _claim(self, limit: int, skip: Iterable[str]) -> list[Claimed]:
        now = self._bus.clock.now()
        with self._bus.unit_of_work() as uow:
            claimed = uow.webhooks.claim(now, now + CLAIM_LEASE, limit, skip)
            uow.commit()
        return claimed

    def deliver(self, claimed: Claimed) -> WebhookDelivery:
        """Send one claimed delivery and store how it went (and when to try again)."""
        clock = self._bus.clock
        started = clock.now()
        try:
            target = self._bus.deps.urls.pin(claimed.webhook.url, "url")
        except InvalidInput as exc:
            sent = Sent(None, f"not sent: {exc.message}", 0)
        else:
            stamp = to_micros(started) // 1_000_000
            event = event_of(claimed.notice)
            sent = self._transport.send(target, event, claimed.webhook.secret, stamp)
        number = claimed.delivery.attempts + 1
        attempt = Attempt(
            claimed.delivery.id, number, started, sent.status, sent.error, sent.duration_ms
        )
        ended = after_attempt(claimed.delivery, attempt, clock.now())
        with self._bus.unit_of_work() as uow:
            stored = uow.webhooks.finish(claimed, ended, attempt)
            uow.commit()
        if not stored:
            log.warning("delivery %s: its claim ran out before it was answered", ended.id)
        log.info("delivery %s attempt %d: %s", ended.id, number, ended.status.value)
        return ended
