"""The worker side of the local process pool: run tasks, and answer with what changed.

A pool worker is a spawned process reading tasks from its end of a pipe. A task's packets come
in a shared-memory slot when they fit (see :mod:`commex.stream.handoff`), and the answer
carries only the columns a step replaced: a transcode sends back payloads and payload types,
a detection step nothing but the events it found. :func:`expand` rebuilds the full result on
the caller's side from the packets it still holds.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, fields, replace
from multiprocessing.connection import Connection
from typing import Any

from commex.stream import handoff
from commex.stream.packets import PacketBatch
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.tasks import (
    SegmentResult,
    SegmentTask,
    StepFactory,
    default_step_factory,
    run_task,
)

# Numerical libraries each start a thread per core; N such workers on N cores oversubscribe
# them and spin-wait (measured: one pool worker 2.4x slower, two workers slower than one).
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


@dataclass(frozen=True, slots=True)
class ChangedInSlot:
    """A :class:`Changed` answer whose columns the worker wrote back into the task's slot."""

    id: int
    dtmf: tuple[DtmfEvent, ...]
    worker: str
    layout: handoff.Layout


Answer = Unchanged | Changed | ChangedInSlot

_COLUMNS = tuple(f.name for f in fields(PacketBatch))


def run_task_compact(
    task: SegmentTask, factory: StepFactory = default_step_factory
) -> Unchanged | Changed:
    """:func:`~commex.stream.tasks.run_task` for out-of-process workers: only what a step
    changed is sent back."""
    result = run_task(task, factory)
    if result.batch is task.batch:
        return Unchanged(result.id, result.dtmf, result.worker)
    sent, got = task.batch, result.batch
    columns = {c: getattr(got, c) for c in _COLUMNS if getattr(got, c) is not getattr(sent, c)}
    return Changed(result.id, result.dtmf, result.worker, columns)


def run_shared(
    task_id: int,
    steps: tuple[StepSpec, ...],
    shared: handoff.SharedBatch,
    factory: StepFactory = default_step_factory,
) -> Answer:
    """:func:`run_task_compact` on a task handed over in shared memory, answering through the
    same slot where the changed columns fit."""
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


Request = tuple[int, tuple[StepSpec, ...], "handoff.SharedBatch | PacketBatch"]


def serve(conn: Connection, factory: StepFactory = default_step_factory) -> None:
    """A worker's life: answer each request ``(id, steps, packets)`` read from ``conn`` with
    ``("ok", id, answer)`` or ``("error", id, exception)``, until ``None`` or the pipe closes."""
    for name, value in SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    gc.freeze()  # what the worker imported is never garbage: keep collections short
    while True:
        try:
            request: Request | None = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        task_id, steps, packets = request
        try:
            if isinstance(packets, handoff.SharedBatch):
                answer: Answer = run_shared(task_id, steps, packets, factory)
            else:
                answer = run_task_compact(SegmentTask(task_id, packets, steps), factory)
            conn.send(("ok", task_id, answer))
        except Exception as exc:  # the step's own error travels back to the caller
            conn.send(("error", task_id, exc))
