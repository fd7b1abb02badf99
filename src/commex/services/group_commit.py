"""Group commit: callers that arrive together share one transaction and one durable commit.

Every caller queues its request and waits. One of them, the leader, takes what is queued and
applies it as a batch; when the batch is committed, every caller in it gets its own answer (a
result or its own error), and the next waiting caller, if any, leads the next batch. A caller
alone gets a batch of one, so there is no background thread and no added latency; under load
the cost of a commit (an fsync) is shared by everyone who arrived during the previous one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class Pending(Generic[Req, Res]):
    """One caller's request and, once its batch is done, its answer."""

    __slots__ = ("_event", "error", "finished", "lead", "request", "result")

    def __init__(self, request: Req) -> None:
        self.request = request
        self.result: Res | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False
        self._event = threading.Event()

    def answer(self, result: Res) -> None:
        self.result = result

    def fail(self, error: BaseException) -> None:
        self.error = error


class GroupCommit(Generic[Req, Res]):
    """Runs ``apply(batch)`` for batches of concurrent requests, at most ``max_batch`` at once.

    ``apply`` must give every pending request an answer or an error; any it leaves unanswered
    receive the exception ``apply`` raised (or a RuntimeError).
    """

    def __init__(
        self, apply: Callable[[Sequence[Pending[Req, Res]]], None], max_batch: int = 256
    ) -> None:
        self._apply = apply
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[Pending[Req, Res]] = []
        self._busy = False

    @property
    def waiting(self) -> int:
        """Requests queued for a batch that has not started yet."""
        with self._lock:
            return len(self._queue)

    def submit(self, request: Req) -> Res:
        """Queue ``request``, wait for its batch, and return its result or raise its error."""
        mine: Pending[Req, Res] = Pending(request)
        with self._lock:
            self._queue.append(mine)
            if not self._busy:
                self._busy = True
                mine.lead = True
        while True:
            if mine.lead:
                mine.lead = False
                self._run_batch()
            if mine.finished:
                break
            mine._event.wait()
            mine._event.clear()
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _run_batch(self) -> None:
        with self._lock:
            batch = self._queue[: self._max]
            del self._queue[: self._max]
        failure: BaseException | None = None
        try:
            self._apply(batch)
        except BaseException as exc:  # every caller of the batch receives it as its error
            failure = exc
        finally:
            for p in batch:
                if p.result is None and p.error is None:
                    p.error = failure or RuntimeError("the batch left this request unanswered")
                p.finished = True
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
                else:
                    successor.lead = True
            for p in batch:
                p._event.set()
            if successor is not None:
                successor._event.set()
