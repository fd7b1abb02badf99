"""Group commit: callers that arrive together share one transaction and one durable commit.

Every caller queues its request and waits. One of them, the leader, takes what is queued and
applies it as a batch; when the batch is committed, every caller in it gets its own answer (a
result or its own error), and the next waiting caller, if any, leads the next batch. A caller
alone gets a batch of one, so there is no added latency; under load the cost of a commit (an
fsync) is shared by everyone who arrived during the previous one.

A caller that must not block (an event loop) uses :meth:`GroupCommit.submit_future` instead:
its request is queued the same way, and its batch is led by one runner thread of the group's
own, so no thread waits per request.

Where writers take turns (several processes on one SQLite file), the leader first waits for its
turn to write (``turn``) and only then takes the queue: what arrived while it waited joins the
batch, instead of waiting for another turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

from commex.services.request_context import current_request_id

Req = TypeVar("Req")
Res = TypeVar("Res")


_NO_EVENT = threading.Event()  # a caller with a future is never woken: it is answered


class Pending(Generic[Req, Res]):
    """One caller's request and, once its batch is done, its answer. It keeps the id of the
    HTTP request its caller serves, since the batch runs on another caller's thread or on the
    runner, where that caller's context is not."""

    __slots__ = (
        "_event", "error", "finished", "future", "lead", "request", "request_id", "result"
    )  # fmt: skip

    def __init__(self, request: Req, future: Future[Res] | None = None) -> None:
        self.request = request
        self.request_id = current_request_id()
        self.result: Res | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False
        self.future = future  # set for a caller that does not wait in a thread
        self._event = threading.Event() if future is None else _NO_EVENT

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
        self,
        apply: Callable[[Sequence[Pending[Req, Res]]], None],
        max_batch: int = 256,
        turn: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self._apply = apply
        self._max = max_batch
        self._turn = turn
        self._lock = threading.Lock()
        self._queue: list[Pending[Req, Res]] = []
        self._busy = False
        self._runner: ThreadPoolExecutor | None = None

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
                if self._run_batch():  # the next batch is for callers without a thread
                    self._run_on_runner()
            if mine.finished:
                break
            mine._event.wait()
            mine._event.clear()
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def submit_future(self, request: Req) -> Future[Res]:
        """Queue ``request`` and return at once; the future gets its result or its error."""
        mine: Pending[Req, Res] = Pending(request, Future())
        with self._lock:
            self._queue.append(mine)
            lead = not self._busy
            self._busy = True
        if lead:
            self._run_on_runner()
        assert mine.future is not None
        return mine.future

    def close(self) -> None:
        """Stop the runner thread once the batches under way are done."""
        if self._runner is not None:
            self._runner.shutdown(wait=True)

    def _run_on_runner(self) -> None:
        with self._lock:
            if self._runner is None:
                self._runner = ThreadPoolExecutor(1, thread_name_prefix="commex-group-commit")
            runner = self._runner
        runner.submit(self._lead_batches)

    def _lead_batches(self) -> None:
        """On the runner: lead batches while the next one's first caller is not a thread."""
        while self._run_batch():
            pass

    def _run_batch(self) -> bool:
        """Apply one batch and answer it; True when the next batch is this thread's to lead
        (its first caller waits on a future), after a waiting thread was woken otherwise."""
        batch: list[Pending[Req, Res]] = []
        failure: BaseException | None = None
        try:
            with self._turn():
                with self._lock:
                    batch = self._queue[: self._max]
                    del self._queue[: self._max]
                self._apply(batch)
        except BaseException as exc:  # every caller of the batch receives it as its error
            failure = exc
            if not batch:  # the turn itself failed: the queue's first caller hears of it
                with self._lock:
                    batch = self._queue[:1]
                    del self._queue[:1]
        finally:
            for p in batch:
                if p.result is None and p.error is None:
                    p.error = failure or RuntimeError("the batch left this request unanswered")
                p.finished = True
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
                elif successor.future is None:
                    successor.lead = True
            for p in batch:
                _settle(p)
            if successor is not None and successor.future is None:
                successor._event.set()
        return successor is not None and successor.future is not None


def _settle(p: Pending[Req, Res]) -> None:
    """Hand a finished request its answer: through its future, or by waking its thread."""
    if p.future is None:
        p._event.set()
    elif p.error is not None:
        p.future.set_exception(p.error)
    else:
        p.future.set_result(p.result)  # type: ignore[arg-type]
