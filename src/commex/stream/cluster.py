"""The Dask executor: segments processed on a ``distributed`` cluster (D2).

``dask`` starts a :class:`distributed.LocalCluster` of worker processes on this machine;
``dask:ADDRESS`` joins a running scheduler. The scheduler already reruns a task whose worker
died; when it gives up (``KilledWorker``) or the connection drops, the segment is submitted
again under a fresh key, up to a bounded number of attempts.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from commex.stream.dispersal import (
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


class DaskExecutor:
    """Segments as Dask tasks; at most ``window`` in flight, each result yielded once."""

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
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                client = dist.Client(self._cluster)
        self._client = client
        workers = max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        self.name = f"dask:{address}" if address else "dask"
        self.window = window or 2 * workers + 1
        self._factory = step_factory
        self._max_attempts = max_attempts

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]:
        run = functools.partial(run_task, factory=self._factory)
        attempts: dict[int, int] = {}
        owner: dict[str, tuple[Any, SegmentTask]] = {}
        flight = _distributed().as_completed([], with_results=False)
        source = iter(tasks)
        exhausted = False

        def submit(task: SegmentTask) -> None:
            attempts[task.id] = attempts.get(task.id, 0) + 1
            if attempts[task.id] > self._max_attempts:
                raise SegmentFailed(
                    f"segment {task.id} failed {self._max_attempts} times: its worker died"
                )
            key = f"commex-segment-{task.id}-{next(_keys)}"
            fut = self._client.submit(run, task, key=key, pure=False, retries=0)
            owner[fut.key] = (fut, task)
            flight.add(fut)

        try:
            while True:
                while not exhausted and len(owner) < self.window:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                    else:
                        submit(task)
                if not owner:
                    return
                fut = next(flight)
                _, task = owner.pop(fut.key)
                try:
                    result: SegmentResult = fut.result()
                except Exception as exc:
                    if not _retriable(exc):
                        raise
                    submit(task)
                    continue
                finally:
                    fut.release()
                yield result
        finally:
            flight.clear()
            if owner:
                self._client.cancel([fut for fut, _ in owner.values()])

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
