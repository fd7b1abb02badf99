"""The unit of work of the packet plane: a task (packets and steps) and its checked result.

Every executor, local or remote, runs :func:`run_task` on a :class:`SegmentTask` and answers
with a :class:`SegmentResult`. A result is trusted only after :func:`check_result` compared it
with what was sent, and :class:`ResultLedger` makes sure each task is answered exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from commex.domain.errors import CommexError
from commex.stream.packets import I64, PacketBatch
from commex.stream.steps.base import DtmfEvent, Step, StepSpec

StepFactory = Callable[[StepSpec], Step]

MAX_ATTEMPTS = 3
# Steps that may leave packets out of their output (silence removal); all others keep every row.
DROPPING_STEPS = frozenset({"vad"})


class SegmentFailed(CommexError):
    """Raised when a segment could not be processed: its workers kept dying, or a result was
    lost, duplicated or did not match the packets that were sent."""

    code = "segment_failed"


@dataclass(frozen=True, slots=True)
class SegmentTask:
    """One unit of work: packets (one or more segments) and the steps to run on them, in
    order."""

    id: int
    batch: PacketBatch
    steps: tuple[StepSpec, ...]


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """A processed task, keyed by the id of the task it answers."""

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
    if got is sent or (got.shape == sent.shape and np.array_equal(got, sent)):
        _same_headers(task, result, slice(None))
        return
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
    _same_headers(task, result, rows)


def _same_headers(task: SegmentTask, result: SegmentResult, rows: I64 | slice) -> None:
    """Refuse a result that changed the stream table, or a packet's SSRC, timestamp or
    stream (``rows``: where each result row was in the task)."""
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
