"""Executors: where segments are processed (in-process, a process pool, Dask, remote nodes).

Every executor takes an iterable of :class:`SegmentTask` and yields one :class:`SegmentResult`
per task, in completion order. Each keeps a bounded number of segments in flight (its window),
resubmits the segments a dead worker held, and yields each segment exactly once; callers check
the results again with :func:`check_result` and :class:`ResultLedger`.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import numpy as np

from commex.domain.errors import CommexError, InvalidInput
from commex.stream import handoff
from commex.stream.packets import I64, PacketBatch
from commex.stream.steps.base import DtmfEvent, Step, StepSpec

StepFactory = Callable[[StepSpec], Step]

MAX_ATTEMPTS = 3
# Numerical libraries each start a thread per core; N such workers on N cores oversubscribe
# them and spin-wait (measured: one pool worker 2.4x slower, two workers slower than one).
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Steps that may leave packets out of their output (silence removal); all others keep every row.
DROPPING_STEPS = frozenset({"vad"})


class SegmentFailed(CommexError):
    """Raised when a segment could not be processed: its workers kept dying, or a result was
    lost, duplicated or did not match the packets that were sent."""

    code = "segment_failed"


@dataclass(frozen=True, slots=True)
class SegmentTask:
    """One unit of work: a segment's packets and the steps to run on them, in order."""

    id: int
    batch: PacketBatch
    steps: tuple[StepSpec, ...]


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """A processed segment, keyed by the id of the task it answers."""

    id: int
    batch: PacketBatch
    dtmf: tuple[DtmfEvent, ...] = ()
    worker: str = ""


def default_step_factory(spec: StepSpec) -> Step:
    """Build a step from the registry of processing capabilities (imported on first use)."""
    from commex.stream.steps.registry import build_step  # noqa: PLC0415 - keeps workers lean

    return build_step(spec)


def run_task(task: SegmentTask, factory: StepFactory = default_step_factory) -> SegmentResult:
    """Apply the task's steps in order; a top-level function so any worker can import it."""
    batch = task.batch
    found: list[DtmfEvent] = []
    for spec in task.steps:
        out = factory(spec).apply(batch)
        batch = out.batch
        found.extend(out.dtmf)
    return SegmentResult(task.id, batch, tuple(found), worker=f"pid:{os.getpid()}")


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A worker's answer when no step changed the packets (a detection step such as ``dtmf``):
    the caller still holds them, so they need not travel back."""

    id: int
    dtmf: tuple[DtmfEvent, ...]
    worker: str


@dataclass(frozen=True, slots=True)
class Changed:
    """A worker's answer carrying only the columns its steps replaced (a transcode replaces
    the payloads and payload types; the other ten columns need not travel back)."""

    id: int
    dtmf: tuple[DtmfEvent, ...]
    worker: str
    columns: dict[str, Any]


_COLUMNS = tuple(f.name for f in fields(PacketBatch))


def run_task_compact(
    task: SegmentTask, factory: StepFactory = default_step_factory
) -> Unchanged | Changed:
    """:func:`run_task` for out-of-process workers: only what a step changed is sent back."""
    result = run_task(task, factory)
    if result.batch is task.batch:
        return Unchanged(result.id, result.dtmf, result.worker)
    sent, got = task.batch, result.batch
    columns = {c: getattr(got, c) for c in _COLUMNS if getattr(got, c) is not getattr(sent, c)}
    return Changed(result.id, result.dtmf, result.worker, columns)


@dataclass(frozen=True, slots=True)
class ChangedInSlot:
    """A :class:`Changed` answer whose columns the worker wrote back into the segment's slot."""

    id: int
    dtmf: tuple[DtmfEvent, ...]
    worker: str
    layout: handoff.Layout


def run_shared(
    task_id: int,
    steps: tuple[StepSpec, ...],
    shared: handoff.SharedBatch,
    factory: StepFactory = default_step_factory,
) -> Unchanged | Changed | ChangedInSlot:
    """:func:`run_task_compact` on a segment handed over in shared memory (see :mod:`handoff`),
    answering through the same slot where the changed columns fit."""
    answer = run_task_compact(SegmentTask(task_id, handoff.read(shared), steps), factory)
    if isinstance(answer, Changed):
        layout = handoff.write_back(shared, answer.columns)
        if layout is not None:
            return ChangedInSlot(answer.id, answer.dtmf, answer.worker, layout)
    return answer


def expand(task: SegmentTask, answer: SegmentResult | Unchanged | Changed) -> SegmentResult:
    """The full result of ``task`` from a worker's (possibly compact) answer."""
    if isinstance(answer, Unchanged):
        return SegmentResult(answer.id, task.batch, answer.dtmf, answer.worker)
    if isinstance(answer, Changed):
        batch = replace(task.batch, **answer.columns)
        return SegmentResult(answer.id, batch, answer.dtmf, answer.worker)
    return answer


def may_drop(steps: Iterable[StepSpec]) -> bool:
    """Whether any of ``steps`` may leave packets out of its output."""
    return any(s.name in DROPPING_STEPS for s in steps)


def check_result(task: SegmentTask, result: SegmentResult) -> None:
    """Refuse a result that does not answer ``task``: wrong id, packets that were not sent,
    duplicated packets, missing packets (unless a step may drop them), or changed SSRC,
    timestamp or stream of a packet."""
    if result.id != task.id:
        raise SegmentFailed(f"result for segment {result.id} answers segment {task.id}")
    sent, got = task.batch.index, result.batch.index
    increasing = got.shape[0] < 2 or bool(np.all(got[1:] > got[:-1]))  # the usual case
    if not increasing and np.unique(got).shape[0] != got.shape[0]:
        raise SegmentFailed(f"segment {task.id}: result holds duplicated packets")
    if not may_drop(task.steps) and got.shape[0] != sent.shape[0]:
        raise SegmentFailed(
            f"segment {task.id}: sent {sent.shape[0]} packets, got {got.shape[0]} back"
        )
    rows = _positions(sent, got)
    if bool(np.any(rows < 0)):
        raise SegmentFailed(f"segment {task.id}: result holds packets that were not sent")
    if result.batch.streams != task.batch.streams:
        raise SegmentFailed(f"segment {task.id}: result changed the stream table")
    src, out = task.batch, result.batch
    for column in ("ssrc", "timestamp", "stream"):
        if not np.array_equal(getattr(src, column)[rows], getattr(out, column)):
            raise SegmentFailed(f"segment {task.id}: result changed the {column} of a packet")


def _positions(sent: I64, got: I64) -> I64:
    """Where each index of ``got`` sits in ``sent``, or -1 where it was never sent."""
    if sent.shape[0] == 0:
        return np.full(got.shape, -1, dtype=np.int64)
    order = np.argsort(sent, kind="stable")
    at = np.minimum(np.searchsorted(sent, got, sorter=order), sent.shape[0] - 1)
    rows: I64 = order[at]
    return np.where(sent[rows] == got, rows, -1)


class ResultLedger:
    """Keeps the result of each segment id once: a second result or a missing one is an error."""

    def __init__(self) -> None:
        self.results: dict[int, SegmentResult] = {}
        self.expected: set[int] = set()

    def expect(self, task: SegmentTask) -> None:
        """Record that ``task`` was handed to an executor."""
        if task.id in self.expected:
            raise SegmentFailed(f"segment {task.id} was submitted twice")
        self.expected.add(task.id)

    def accept(self, result: SegmentResult) -> None:
        """Record ``result``; refuse an unknown or repeated segment id."""
        if result.id not in self.expected:
            raise SegmentFailed(f"result for segment {result.id}, which was never submitted")
        if result.id in self.results:
            raise SegmentFailed(f"segment {result.id} came back twice")
        self.results[result.id] = result

    def complete(self) -> dict[int, SegmentResult]:
        """Every result by id, once every submitted segment has come back."""
        missing = sorted(self.expected - self.results.keys())
        if missing:
            raise SegmentFailed(f"segments lost on the way: {missing[:10]}")
        return self.results


class Executor(Protocol):
    """Processes segment tasks somewhere and yields their results in completion order."""

    name: str

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each segment in the calling thread: the reference every other executor matches."""

    name = "inline"

    def __init__(self, step_factory: StepFactory = default_step_factory) -> None:
        self._factory = step_factory

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]:
        for task in tasks:
            yield run_task(task, self._factory)

    def close(self) -> None:
        return None

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessExecutor:
    """A local pool of spawned worker processes. When a worker dies the pool is rebuilt and
    only the segments that had not finished are submitted again. The workers' numerical
    libraries run single-threaded (see :data:`SINGLE_THREADED`) unless told otherwise."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        window: int | None = None,
        step_factory: StepFactory = default_step_factory,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.name = f"process:{self.workers}"
        self.window = window or 2 * self.workers + 1
        self.restarts = 0
        self._factory = step_factory
        self._max_attempts = max_attempts
        self._pool: ProcessPoolExecutor | None = None
        self._slots = handoff.SlotPool(self.window)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned workers inherit the environment: parallelism comes from the processes.
            for name, value in SINGLE_THREADED.items():
                os.environ.setdefault(name, value)
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def warm(self) -> None:
        """Start every worker now, so the first segments do not pay for process start-up."""
        pool = self._get_pool()
        for fut in [pool.submit(os.getpid) for _ in range(self.workers * 2)]:
            fut.result()

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]:
        run = functools.partial(run_task_compact, factory=self._factory)
        pending: dict[Future[Unchanged | Changed | ChangedInSlot], SegmentTask] = {}
        slots: dict[Future[Unchanged | Changed | ChangedInSlot], handoff.Slot] = {}
        attempts: dict[int, int] = {}
        retry: list[SegmentTask] = []
        source = iter(tasks)
        exhausted = False

        def submit(task: SegmentTask) -> bool:
            attempts[task.id] = attempts.get(task.id, 0) + 1
            if attempts[task.id] > self._max_attempts:
                raise SegmentFailed(
                    f"segment {task.id} failed {self._max_attempts} times: its worker died"
                )
            slot = self._slots.acquire()
            shared = slot.put(task.batch) if slot is not None else None
            if slot is not None and shared is None:  # too big for a slot: through the pipe
                self._slots.release(slot)
                slot = None
            try:
                pool = self._get_pool()
                if shared is not None:
                    future = pool.submit(
                        run_shared, task.id, task.steps, shared, factory=self._factory
                    )
                else:
                    future = pool.submit(run, task)
            except BrokenProcessPool:  # the pool died before we saw a failed future
                if slot is not None:
                    self._slots.release(slot)
                attempts[task.id] -= 1
                retry.append(task)
                return False
            pending[future] = task
            if slot is not None:
                slots[future] = slot
            return True

        def settle(
            fut: Future[Unchanged | Changed | ChangedInSlot],
        ) -> tuple[SegmentTask, SegmentResult | None]:
            """Forget a finished future, read its answer out of its slot if it was written
            there, and free the slot for the next segment."""
            task = pending.pop(fut)
            slot = slots.pop(fut, None)
            result = None
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                answer = fut.result()
                if isinstance(answer, ChangedInSlot):
                    if slot is None:  # pragma: no cover - only slotted tasks answer in a slot
                        raise SegmentFailed(f"segment {task.id} answered in a missing slot")
                    columns = slot.take(answer.layout)
                    answer = Changed(answer.id, answer.dtmf, answer.worker, columns)
                result = expand(task, answer)
            if slot is not None:
                self._slots.release(slot)
            return task, result

        try:
            while True:
                healthy = True
                while healthy and retry and len(pending) < self.window:
                    healthy = submit(retry.pop(0))
                while healthy and not exhausted and len(pending) < self.window:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                    else:
                        healthy = submit(task)
                if not pending and not retry:
                    return
                broken = not healthy
                if pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task, result = settle(fut)
                        if isinstance(fut.exception(), BrokenProcessPool):
                            broken = True
                            retry.append(task)
                        elif result is None:
                            fut.result()  # raises the step's own error
                        else:
                            yield result
                if broken:
                    # Every other future of a broken pool fails too; keep what finished first.
                    wait(pending)
                    for fut in list(pending):
                        task, result = settle(fut)
                        if isinstance(fut.exception(), BrokenProcessPool):
                            retry.append(task)
                        elif result is None:
                            fut.result()  # raises the step's own error
                        else:
                            yield result
                    retry.sort(key=lambda t: t.id)
                    self._discard_pool()
                    self.restarts += 1
        finally:
            for fut in pending:
                fut.cancel()
            if pending:  # abandoned mid-run: no slot may be reused under a running worker
                wait(pending)
                for fut in list(pending):
                    settle(fut)

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._discard_pool()
        self._slots.close()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """An executor as written on the command line: ``inline``, ``process[:N]``,
    ``dask[:ADDRESS]`` or ``node:URL[,URL...]``."""

    kind: str
    workers: int | None = None
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExecutorSpec:
        """Parse an executor; a malformed one is an :class:`InvalidInput` naming it."""
        kind, _, arg = text.strip().partition(":")
        if kind == "inline" and not arg:
            return cls("inline")
        if kind == "process":
            if not arg:
                return cls("process")
            if arg.isdigit() and 0 < int(arg) <= 256:
                return cls("process", workers=int(arg))
        if kind == "dask":
            return cls("dask", address=arg or None)
        if kind == "node" and arg:
            return cls("node", address=arg)
        raise InvalidInput(
            f"invalid executor {text!r}: expected inline, process[:N], dask[:ADDRESS] "
            "or node:URL[,URL]",
            field="executor",
        )

    def __str__(self) -> str:
        if self.kind == "process" and self.workers:
            return f"process:{self.workers}"
        return f"{self.kind}:{self.address}" if self.address else self.kind


def build_executor(
    spec: ExecutorSpec,
    *,
    step_factory: StepFactory = default_step_factory,
    token: str | None = None,
) -> Executor:
    """The executor ``spec`` names; Dask and node executors are imported only when asked for."""
    if spec.kind == "inline":
        return InlineExecutor(step_factory)
    if spec.kind == "process":
        return ProcessExecutor(spec.workers, step_factory=step_factory)
    if spec.kind == "dask":
        from commex.stream.cluster import DaskExecutor  # noqa: PLC0415 - dask is heavy

        return DaskExecutor(spec.address, step_factory=step_factory)
    from commex.stream.nodeclient import NodeExecutor  # noqa: PLC0415

    urls = [u for u in (spec.address or "").split(",") if u]
    return NodeExecutor(urls, token=token)
