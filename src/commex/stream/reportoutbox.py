"""Reports a node owes the exchange, sent in batches from a thread of its own.

Each report carries a run id of its own, so the exchange counts it once however often it is
sent. :class:`ReportOutbox` sends what its owner has ready every ``every_s`` seconds and when
closed; a report the exchange refuses (a 4xx: the contract or subcontract no longer takes it)
is dropped with a warning, one it cannot take now is kept and sent again at the next flush.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from commex.domain.errors import (
    CommexError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)

REFUSED = (Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated)

R = TypeVar("R")


class ReportOutbox(Generic[R]):
    """Sends ``take()``'s reports with ``send``; ``describe`` names a report in a warning."""

    def __init__(
        self,
        take: Callable[[], list[R]],
        send: Callable[[R], object],
        describe: Callable[[R], str],
        *,
        every_s: float,
        warn: Callable[[str], None],
        name: str,
    ) -> None:
        self._take, self._send, self._describe = take, send, describe
        self.every_s, self._warn, self._name = every_s, warn, name
        self.sent = 0
        self._unsent: list[R] = []
        self._lock = threading.Lock()  # guards _unsent
        self._flushing = threading.Lock()  # one flush at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> None:
        """Send the reports ready now, and those not taken before."""
        with self._flushing:
            ready = self._take()
            with self._lock:
                batch, self._unsent = [*self._unsent, *ready], []
            kept = []
            for report in batch:
                try:
                    self._send(report)
                    self.sent += 1
                except REFUSED as exc:
                    self._warn(f"{self._describe(report)} refused: {exc.message}")
                except CommexError as exc:
                    self._warn(f"{self._describe(report)} not sent: {exc.message}")
                    kept.append(report)
            with self._lock:
                self._unsent = kept + self._unsent

    def unsent(self) -> int:
        """Reports waiting to be sent again."""
        with self._lock:
            return len(self._unsent)

    def start(self) -> None:
        """Flush every ``every_s`` seconds on a background thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and send what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
