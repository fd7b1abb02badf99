"""A local pool of spawned worker processes that keeps going when one of them dies.

Each worker reads tasks from its own pipe (see :mod:`commex.stream.workers`); the caller
chooses the least busy live worker for each task and a reader thread collects the answers.
When a worker dies, only the tasks it held are sent to the other workers, at once, and a new
worker is started in its place: a live call keeps flowing instead of waiting for a whole pool
to be rebuilt. A late task can be hedged on a second worker; the first answer wins and the
other is dropped, so every task is answered exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from commex.stream import handoff
from commex.stream.dispersal import BaseExecutor, Waker
from commex.stream.packets import PacketBatch
from commex.stream.tasks import (
    MAX_ATTEMPTS,
    SegmentFailed,
    SegmentResult,
    SegmentTask,
    StepFactory,
    default_step_factory,
)
from commex.stream.workers import SINGLE_THREADED, Changed, ChangedInSlot, expand, serve

Message = tuple[int, Any, Any]  # to a worker: task id, steps, packets
Reply = tuple[str, int, Any]  # from a worker: "ok" or "error", task id, answer


@dataclass
class _Run:
    """One attempt of a task on one worker, with the slot its packets were put in."""

    task_id: int
    slot: handoff.Slot | None


class _Worker:
    """A spawned worker process and the caller's end of its pipe."""

    def __init__(self, ctx: SpawnContext, factory: StepFactory, number: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.proc: SpawnProcess = ctx.Process(
            target=serve, args=(child, factory), daemon=True, name=f"commex-worker-{number}"
        )
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.runs: dict[int, _Run] = {}
        self.alive = True
        self._send_lock = threading.Lock()

    def send(self, message: object) -> None:
        """Send ``message``; a dead worker's pipe fails quietly (the reader sees the death)."""
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, ValueError):
            pass


@dataclass
class _Job:
    task: SegmentTask
    attempts: int = 0
    answered: bool = False
    workers: list[_Worker] = field(default_factory=list)


class ProcessExecutor(BaseExecutor):
    """Tasks on ``workers`` spawned processes (default: one per core), at most ``window`` out.
    The workers' numerical libraries run single-threaded (parallelism comes from the
    processes)."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        window: int | None = None,
        step_factory: StepFactory = default_step_factory,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__()
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.name = f"process:{self.workers}"
        self.window = window or 2 * self.workers + 1
        self.restarts = 0
        self._factory = step_factory
        self._max_attempts = max_attempts
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._pool: list[_Worker] = []
        self._jobs: dict[int, _Job] = {}
        self._waiting: list[_Job] = []
        self._done: list[SegmentResult | BaseException] = []
        self._slots = handoff.SlotPool(2 * self.window)
        self._ctl = Waker()
        self._reader: threading.Thread | None = None
        self._closing = False
        self._spawned = 0

    # --- the caller's side -------------------------------------------------------------------

    def _start(self) -> None:
        if self._reader is not None:
            return
        for name, value in SINGLE_THREADED.items():
            os.environ.setdefault(name, value)
        with self._lock:
            self._pool = [self._new_worker() for _ in range(self.workers)]
        self._reader = threading.Thread(target=self._read, name="commex-pool-reader", daemon=True)
        self._reader.start()

    def _new_worker(self) -> _Worker:
        self._spawned += 1
        return _Worker(self._ctx, self._factory, self._spawned)

    def warm(self) -> None:
        """Start every worker now and wait until each answers, so the first tasks do not pay
        for process start-up."""
        self._start()
        probes = [SegmentTask(-1 - i, PacketBatch(), ()) for i in range(2 * self.workers)]
        for _ in self.map_segments(probes):
            pass

    def submit(self, task: SegmentTask) -> None:
        self._start()
        with self._lock:
            if task.id in self._jobs:
                raise SegmentFailed(f"segment {task.id} was submitted twice")
            job = self._jobs[task.id] = _Job(task)
            sends = self._place(job, exclude=())
        self._deliver(sends)

    def hedge(self, task_id: int) -> bool:
        with self._lock:
            job = self._jobs.get(task_id)
            if job is None or job.answered or len(job.workers) > 1:
                return False
            others = [w for w in self._pool if w.alive and w not in job.workers]
            if not others:
                return False
            sends = self._place(job, exclude=job.workers, counted=False)
        self._deliver(sends)
        return bool(sends)

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
            self._waiting.clear()
            self._done.clear()

    # --- placing tasks (called with the lock held) -------------------------------------------

    def _place(
        self, job: _Job, exclude: list[_Worker] | tuple[()], *, counted: bool = True
    ) -> list[tuple[_Worker, Message]]:
        alive = [w for w in self._pool if w.alive and w not in exclude]
        if not alive:
            self._waiting.append(job)
            return []
        if counted:
            job.attempts += 1
            if job.attempts > self._max_attempts:
                self._fail(job, f"segment {job.task.id} failed {self._max_attempts} times: "
                           "its worker died")  # fmt: skip
                return []
        worker = min(alive, key=lambda w: len(w.runs))
        slot = self._slots.acquire()
        shared = slot.put(job.task.batch) if slot is not None else None
        if slot is not None and shared is None:  # too big for a slot: through the pipe
            self._slots.release(slot)
            slot = None
        worker.runs[job.task.id] = _Run(job.task.id, slot)
        job.workers.append(worker)
        packets = shared if shared is not None else job.task.batch
        return [(worker, (job.task.id, job.task.steps, packets))]

    def _fail(self, job: _Job, message: str) -> None:
        job.answered = True
        self._jobs.pop(job.task.id, None)
        self._done.append(SegmentFailed(message))
        self._notify()

    @staticmethod
    def _deliver(sends: list[tuple[_Worker, Message]]) -> None:
        for worker, message in sends:
            worker.send(message)

    # --- the reader thread -------------------------------------------------------------------

    def _read(self) -> None:
        while not self._closing:
            with self._lock:
                conns = {w.conn: w for w in self._pool if w.alive}
                ends = {w.proc.sentinel: w for w in self._pool if w.alive}
            control = self._ctl.fileno()
            for ready in wait_ready([*conns, *ends, control], timeout=1.0):
                if ready == control:
                    self._ctl.clear()
                elif isinstance(ready, Connection):
                    self._receive(conns[ready])
                elif isinstance(ready, int) and ready in ends and ends[ready].alive:
                    self._receive(ends[ready], until_empty=True)
                    self._died(ends[ready])

    def _receive(self, worker: _Worker, *, until_empty: bool = False) -> None:
        while True:
            try:
                if until_empty and not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._died(worker)
                return
            self._answered(worker, message)
            if not until_empty:
                return

    def _answered(self, worker: _Worker, message: Reply) -> None:
        kind, task_id, answer = message
        with self._lock:
            run = worker.runs.pop(task_id, None)
            job = self._jobs.get(task_id)
            try:
                if job is None or job.answered or run is None:
                    return
                if kind == "error":
                    job.answered = True
                    self._jobs.pop(task_id, None)
                    self._done.append(answer)
                    return
                if isinstance(answer, ChangedInSlot):
                    assert run.slot is not None  # only slotted tasks answer in a slot
                    columns = run.slot.take(answer.layout)
                    answer = Changed(answer.id, answer.dtmf, answer.worker, columns)
                job.answered = True
                self._jobs.pop(task_id, None)
                self._done.append(expand(job.task, answer))
            finally:
                if run is not None and run.slot is not None:
                    self._slots.release(run.slot)
        self._notify()

    def _died(self, worker: _Worker) -> None:
        sends: list[tuple[_Worker, Message]] = []
        with self._lock:
            if not worker.alive or self._closing:
                return
            worker.alive = False
            self._pool.remove(worker)
            replacement = self._new_worker()
            self._pool.append(replacement)
            self.restarts += 1
            orphans = []
            for task_id, run in sorted(worker.runs.items()):
                if run.slot is not None:
                    self._slots.release(run.slot)
                job = self._jobs.get(task_id)
                if job is not None and not job.answered:
                    job.workers.remove(worker)
                    if not any(w.alive for w in job.workers):
                        orphans.append(job)
            worker.runs.clear()
            waiting, self._waiting = self._waiting, []
            for job in sorted([*waiting, *orphans], key=lambda j: j.task.id):
                sends += self._place(job, exclude=(), counted=job in orphans)
        worker.conn.close()
        self._deliver(sends)
        self._ctl.notify()

    def close(self) -> None:
        self._closing = True
        self._ctl.notify()
        if self._reader is not None:
            self._reader.join(5)
        for worker in self._pool:
            worker.send(None)
        for worker in self._pool:
            worker.proc.join(2)
            if worker.proc.is_alive():
                worker.proc.kill()
                worker.proc.join(2)
            worker.conn.close()
        self._pool.clear()
        self._slots.close()
        self._ctl.close()
        self._reader = None
