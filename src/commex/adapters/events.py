"""In-process change notifications for live pages.

The exchange publishes events from whatever thread committed them; a live page (an SSE stream
on the server's event loop) waits for "something changed in auction X". The hub only wakes
waiters: pages re-read the database, and the streams watching one key share a read
(:meth:`ChangeHub.read`) rather than each reading the same rows after every change. With
several server processes on one PostgreSQL database, a relay (:mod:`commex.adapters.sql.notify`)
carries every process's wake-ups to the others through LISTEN/NOTIFY (:attr:`ChangeHub.shared`);
on SQLite a page in another process notices on its next periodic check.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Collection, Sequence
from functools import partial
from typing import Any, TypeVar

from commex.domain.events import AuctionCancelled, AuctionClosed, BidPlaced, Event, Notified

ACCOUNT = "account:"  # a key per account: its notification badge
T = TypeVar("T")


class ChangeHub:
    """Publishes domain events as wake-ups, keyed by auction id ("*" for any auction) and by
    ``account:ID`` for an account's notices."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._relays: list[Callable[[Collection[str]], None]] = []
        # key -> the read of it under way that began after its last change (see ``read``)
        self._reads: dict[str, asyncio.Future[Any]] = {}
        self.published = 0
        self.shared = False  # True once a relay brings other processes' changes here

    def publish(self, events: Sequence[Event]) -> None:
        """Wake this process's waiters for what ``events`` changed, and tell the relays."""
        keys = {"*"}
        everyone = False
        for e in events:
            if isinstance(e, BidPlaced | AuctionClosed | AuctionCancelled):
                keys.add(e.auction_id)
            elif isinstance(e, Notified):
                keys.update(ACCOUNT + a for a in e.account_ids)
                everyone |= e.everyone
        with self._lock:
            self.published += len(events)
            if everyone:
                keys.update(k for k in self._waiters if k.startswith(ACCOUNT))
        self.wake(keys)
        for relay in self._relays:
            relay(keys)

    def relay_to(self, relay: Callable[[Collection[str]], None]) -> None:
        """Hand the keys of every change published here to ``relay`` (other processes)."""
        self._relays.append(relay)

    def wake(self, keys: Collection[str]) -> None:
        """Wake the waiters for ``keys`` (auction ids, "*"), wherever the change happened."""
        with self._lock:
            targets = [w for k in keys for w in self._waiters.get(k, ())]
            for k in keys:  # a read begun before this change may miss it: later callers start anew
                self._reads.pop(k, None)
        for loop, event in targets:
            loop.call_soon_threadsafe(event.set)

    def wake_all(self) -> None:
        """Wake every waiter (after a gap in what the relay heard, anything may have changed)."""
        with self._lock:
            keys = list(self._waiters)
            self._reads.clear()
        self.wake(keys)

    async def read(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()``, shared: a caller that comes while a read of ``key`` is under way,
        begun after ``key``'s last change, awaits that read instead of starting its own, so
        the many pages woken by one bid read its auction once. A change to ``key`` while the
        read runs makes the next caller start a new one; so does a caller on another loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            pending = self._reads.get(key)
            if pending is None or pending.get_loop() is not loop:
                pending = asyncio.ensure_future(call())
                self._reads[key] = pending
                pending.add_done_callback(partial(self._read_done, key))
        # Shielded: a caller that goes away (its page closed) does not cancel the others' read.
        result: T = await asyncio.shield(pending)
        return result

    def _read_done(self, key: str, done: asyncio.Future[Any]) -> None:
        with self._lock:
            if self._reads.get(key) is done:
                del self._reads[key]
        if not done.cancelled():
            done.exception()  # seen here: a failed read nobody awaits is not "never retrieved"

    async def wait(self, key: str, timeout: float) -> bool:
        """Wait until something happens to ``key`` (an auction id, or "*"), or ``timeout``
        seconds pass; True if woken by a change."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                group = self._waiters.get(key)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[key]
