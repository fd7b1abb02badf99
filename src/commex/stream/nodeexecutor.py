"""The ``node:`` executor: tasks processed on remote processing nodes over HTTP.

Tasks are spread round-robin over the nodes, each call on a thread of its own so that the
caller keeps receiving while they are out. A task whose node fails (unreachable, timed out,
5xx, a bad result) goes to the next node at once, and the failed node is passed over for a
while, so a node that died mid-call costs the calls in flight one retry each and no more. A
refusal (wrong token, a step the node lacks) stops the run: another node would refuse too. A
late task is hedged on the next node; the first answer wins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from commex.stream import nodemetrics
from commex.stream.dispersal import BaseExecutor
from commex.stream.nodeclient import NodeClient, NodeError, token_from_env
from commex.stream.tasks import MAX_ATTEMPTS, SegmentFailed, SegmentResult, SegmentTask

SUSPECT_S = 2.0  # how long a node that failed is passed over while others answer


@dataclass
class _Job:
    task: SegmentTask
    start: int
    answered: bool = False
    hedged: bool = False
    running: int = 0


class NodeExecutor(BaseExecutor):
    """Tasks on the nodes at ``urls`` (or the given ``clients``), ``window`` at a time."""

    def __init__(
        self,
        urls: Sequence[str] = (),
        *,
        token: str | None = None,
        clients: Sequence[NodeClient] | None = None,
        window: int | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        contract: str | None = None,
        metered_by_caller: bool = False,
    ) -> None:
        super().__init__()
        if clients is None:
            secret = token or token_from_env()
            clients = [
                NodeClient(url, secret, contract=contract, metered_by_caller=metered_by_caller)
                for url in urls
            ]
        if not clients:
            raise NodeError("the node executor needs at least one node URL", retriable=False)
        self._clients = list(clients)
        self.name = "node:" + ",".join(c.name for c in self._clients)
        self.window = window or 2 * len(self._clients) + 2
        self._max_attempts = max(max_attempts, len(self._clients))
        self._suspect_until = [0.0] * len(self._clients)
        self._next = 0
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._done: list[SegmentResult | BaseException] = []
        self._threads = ThreadPoolExecutor(2 * self.window, thread_name_prefix="commex-node")

    def warm(self) -> None:
        """Reach every node once (a node that does not answer is passed over for a while)."""
        for i, client in enumerate(self._clients):
            try:
                client.info()
            except NodeError:
                self._suspect_until[i] = time.monotonic() + SUSPECT_S

    def submit(self, task: SegmentTask) -> None:
        with self._lock:
            if task.id in self._jobs:
                raise SegmentFailed(f"segment {task.id} was submitted twice")
            job = self._jobs[task.id] = _Job(task, self._next)
            self._next += 1
        self._start(job, 0)

    def hedge(self, task_id: int) -> bool:
        with self._lock:
            job = self._jobs.get(task_id)
            if job is None or job.answered or job.hedged or len(self._clients) < 2:
                return False
            job.hedged = True
        self._start(job, 1)
        return True

    def _start(self, job: _Job, offset: int) -> None:
        with self._lock:
            job.running += 1
        future = self._threads.submit(self._process, job, offset)
        future.add_done_callback(lambda f: self._finished(job, f))

    def _order(self, start: int) -> list[int]:
        """The nodes to try from ``start`` on, those that failed lately last."""
        n = len(self._clients)
        ring = [(start + k) % n for k in range(n)]
        now = time.monotonic()
        return sorted(ring, key=lambda i: self._suspect_until[i] > now)

    def _process(self, job: _Job, offset: int) -> SegmentResult:
        errors: list[str] = []
        order = self._order(job.start + offset)
        for attempt in range(self._max_attempts):
            if job.answered:
                break
            node = order[attempt % len(order)]
            try:
                return self._clients[node].process(job.task)
            except NodeError as exc:
                if not exc.retriable:
                    raise
                self._suspect_until[node] = time.monotonic() + SUSPECT_S
                errors.append(exc.message)
                if attempt + 1 < self._max_attempts:
                    nodemetrics.failover()  # on to the next node
        raise SegmentFailed(f"segment {job.task.id} failed on every node: {'; '.join(errors)}")

    def _finished(self, job: _Job, future: Future[SegmentResult]) -> None:
        with self._lock:
            job.running -= 1
            if future.cancelled():
                return
            if job.answered:  # a hedge answered first, or the run no longer wants it
                if future.exception() is None:
                    nodemetrics.late_results()
                return
            error = future.exception()
            if error is not None and job.running:  # the other attempt may still succeed
                return
            job.answered = True
            self._jobs.pop(job.task.id, None)
            self._done.append(error if error is not None else future.result())
        self._notify()

    def results(self) -> list[SegmentResult]:
        with self._lock:
            done, self._done = self._done, []
        for item in done:
            if isinstance(item, BaseException):
                raise item
        return [r for r in done if isinstance(r, SegmentResult)]

    def discard(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.answered = True
            self._jobs.clear()
            self._done.clear()

    def close(self) -> None:
        self.discard()
        self._threads.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()
