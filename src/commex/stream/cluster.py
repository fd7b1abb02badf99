"""The Dask executor: tasks processed on a ``distributed`` cluster (D2).

``dask`` starts a :class:`distributed.LocalCluster` of worker processes on this machine;
``dask:ADDRESS`` joins a running scheduler. The scheduler already reruns a task whose worker
died; when it gives up (``KilledWorker``) or the connection drops, the task is submitted again
under a fresh key, up to a bounded number of attempts. A late task is hedged under a fresh key
too; the first answer wins.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Any

from commex.stream.dispersal import BaseExecutor
from commex.stream.tasks import (
    MAX_ATTEMPTS,
    SegmentFailed,
    SegmentResult,
    SegmentTask,
    StepFactory,
    default_step_factory,
    run_task,
)

_keys = itertools.count()


def _distributed() -> Any:
    # Imported on first use (dask is heavy) and typed loosely: distributed ships partial hints.
    return importlib.import_module("distributed")


def _retriable(exc: BaseException) -> bool:
    dist = _distributed()
    closed = importlib.import_module("distributed.comm.core").CommClosedError
    return isinstance(exc, dist.KilledWorker | closed | OSError)


@dataclass
class _Job:
    task: SegmentTask
    attempts: int = 0
    out: int = 0
    answered: bool = False
    hedged: bool = False


class DaskExecutor(BaseExecutor):
    """Tasks as Dask futures; at most ``window`` in flight, each result yielded once."""

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Any = None,
        n_workers: int = 2,
        window: int | None = None,
        step_factory: StepFactory = default_step_factory,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__()
        dist = _distributed()
        self._cluster: Any = None
        self._owns_client = client is None
        if client is None:
            if address:
                client = dist.Client(address)
            else:
                self._cluster = dist.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # no fixed port: another cluster may hold 8787
                    silence_logs=logging.ERROR,
                )
                client = dist.Client(self._cluster)
        self._client = client
        workers = max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        self.name = f"dask:{address}" if address else "dask"
        self.window = window or 2 * workers + 1
        self._run = functools.partial(run_task, factory=step_factory)
        self._max_attempts = max_attempts
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._finished: list[tuple[Any, _Job]] = []

    def submit(self, task: SegmentTask) -> None:
        with self._lock:
            if task.id in self._jobs:
                raise SegmentFailed(f"segment {task.id} was submitted twice")
            job = self._jobs[task.id] = _Job(task)
        self._send(job, counted=True)

    def _send(self, job: _Job, *, counted: bool) -> None:
        if counted:
            job.attempts += 1
            if job.attempts > self._max_attempts:
                raise SegmentFailed(
                    f"segment {job.task.id} failed {self._max_attempts} times: its worker died"
                )
        key = f"commex-segment-{job.task.id}-{next(_keys)}"
        future = self._client.submit(self._run, job.task, key=key, pure=False, retries=0)
        with self._lock:
            job.out += 1
        # Called on the client's event loop: only note it, the result is fetched by results().
        future.add_done_callback(lambda f: self._arrived(f, job))

    def _arrived(self, future: Any, job: _Job) -> None:
        with self._lock:
            self._finished.append((future, job))
        self._notify()

    def hedge(self, task_id: int) -> bool:
        with self._lock:
            job = self._jobs.get(task_id)
            if job is None or job.answered or job.hedged:
                return False
            job.hedged = True
        self._send(job, counted=False)
        return True

    def results(self) -> list[SegmentResult]:
        with self._lock:
            finished, self._finished = self._finished, []
        out = []
        for future, job in finished:
            try:
                result = self._collect(future, job)
            finally:
                future.release()
            if result is not None:
                out.append(result)
        return out

    def _collect(self, future: Any, job: _Job) -> SegmentResult | None:
        with self._lock:
            job.out -= 1
            if job.answered:
                return None
        try:
            result: SegmentResult = future.result()
        except Exception as exc:
            if not _retriable(exc):
                raise
            if job.out == 0:
                self._send(job, counted=True)
            return None
        with self._lock:
            job.answered = True
            self._jobs.pop(job.task.id, None)
        return result

    def discard(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.answered = True
            self._jobs.clear()
            self._finished.clear()

    def close(self) -> None:
        self.discard()
        if self._owns_client:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
