"""Bundles of segments moving through the processing stages, in order, a bounded number out.

A :class:`Bundle` is the segments that closed together (a live run's tick, or consecutive
segments of a capture chunk), processed as one task so that many small segments do not cost a
hand-over each. A stage takes bundles in order and gives them back in order, however its
workers finish: :class:`LocalStage` runs this provider's steps on an executor,
:class:`~commex.stream.remotestage.RemoteStage` has a subcontractor run a missing one.
:class:`Flow` chains the stages, so each bundle goes on to the next stage as soon as it is
through the previous one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from commex.stream.dispersal import Executor, Notify
from commex.stream.packets import I32, I64, PacketBatch, StreamKey, concat
from commex.stream.pcap import with_streams
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.tasks import SegmentFailed, SegmentResult, SegmentTask, check_result

MERGE_PACKETS = 4000  # a live stage merges waiting bundles into one task up to this many


@dataclass(frozen=True)
class Bundle:
    """Packets of ``segments`` segments, numbered ``first`` (to ``last`` once merged), from
    input ``chunk`` (-1 on live input). ``deadline`` is when its first packet is due out
    (monotonic seconds); ``sent_index``/``sent_stream`` the packets that went in, so that
    packets a step dropped can be told."""

    first: int
    batch: PacketBatch
    segments: int = 1
    chunk: int = -1
    deadline: float = math.inf
    last: int = -1
    dtmf: tuple[DtmfEvent, ...] = ()
    sent_index: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sent_stream: I32 = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @classmethod
    def of(
        cls, number: int, batch: PacketBatch, segments: int, *, chunk: int = -1,
        deadline: float = math.inf,
    ) -> Bundle:  # fmt: skip
        """A new bundle of ``batch``."""
        return cls(number, batch, segments, chunk, deadline, number, (), batch.index,
                   batch.stream)  # fmt: skip


def merged(bundles: list[Bundle]) -> Bundle:
    """Consecutive bundles as one (a live stage falling behind catches up in one task)."""
    if len(bundles) == 1:
        return bundles[0]
    batch = concat(with_streams([b.batch for b in bundles]))
    return Bundle(
        bundles[0].first, batch, sum(b.segments for b in bundles), -1,
        min(b.deadline for b in bundles), bundles[-1].last,
        tuple(e for b in bundles for e in b.dtmf),
        np.concatenate([b.sent_index for b in bundles]),
        np.concatenate([b.sent_stream for b in bundles]),
    )  # fmt: skip


class Stage(Protocol):
    """Takes bundles in order and gives them back processed, in order; calls the function
    given to ``listen`` (from any thread) when something is ready."""

    def listen(self, notify: Notify) -> None: ...

    def submit(self, bundle: Bundle) -> None: ...

    def ready(self) -> list[Bundle]: ...

    def held(self) -> int: ...

    def room(self) -> bool: ...

    def tick(self, now: float) -> None: ...

    def flush(self) -> None: ...


def compact(batch: PacketBatch) -> tuple[PacketBatch, I64 | None]:
    """``batch`` with a stream table of only its own streams (renumbered), and the ids to
    map them back; unchanged (None) when it holds every stream of its table already."""
    present = np.unique(batch.stream).astype(np.int64)
    if present.shape[0] == len(batch.streams):
        return batch, None
    table: tuple[StreamKey, ...] = tuple(batch.streams[i] for i in present.tolist())
    local = np.searchsorted(present, batch.stream).astype(np.int32)
    return replace(batch, stream=local, streams=table), present


def widen(batch: PacketBatch, present: I64 | None, streams: tuple[StreamKey, ...]) -> PacketBatch:
    """The inverse of :func:`compact`."""
    if present is None:
        return batch
    return replace(batch, stream=present[batch.stream].astype(np.int32), streams=streams)


@dataclass
class _Out:
    bundle: Bundle
    task: SegmentTask
    present: I64 | None
    hedged: bool = False


class LocalStage:
    """This provider's ``steps`` on ``executor``; on live input, bundles that wait for room
    are merged into one task (a stage that fell behind catches up at once)."""

    def __init__(self, executor: Executor, steps: tuple[StepSpec, ...], *, live: bool) -> None:
        self.executor = executor
        self.steps = steps
        self.live = live
        self._waiting: deque[Bundle] = deque()
        self._out: dict[int, _Out] = {}
        self._done: dict[int, Bundle] = {}
        self._next = 0

    def listen(self, notify: Notify) -> None:
        self.executor.listen(notify)

    def submit(self, bundle: Bundle) -> None:
        self._waiting.append(bundle)
        self._fill()

    def _fill(self) -> None:
        while self._waiting and len(self._out) < self.executor.window:
            take = [self._waiting.popleft()]
            if self.live:
                while self._waiting and sum(len(b.batch) for b in take) < MERGE_PACKETS:
                    take.append(self._waiting.popleft())
            bundle = merged(take)
            batch, present = (
                (bundle.batch, None) if self.executor.in_process else compact(bundle.batch)
            )
            task = SegmentTask(bundle.first, batch, self.steps)
            self._out[task.id] = _Out(bundle, task, present)
            self.executor.submit(task)

    def ready(self) -> list[Bundle]:
        self._fill()
        while done := self.executor.results():  # an in-process executor answers at submit
            for result in done:
                self._accept(result)
            self._fill()
        out = []
        while self._next in self._done:
            bundle = self._done.pop(self._next)
            self._next = bundle.last + 1
            out.append(bundle)
        return out

    def _accept(self, result: SegmentResult) -> None:
        out = self._out.pop(result.id, None)
        if out is None:
            raise SegmentFailed(f"result for segment {result.id}, which is not out")
        check_result(out.task, result)
        batch = widen(result.batch, out.present, out.bundle.batch.streams)
        self._done[out.bundle.first] = replace(
            out.bundle, batch=batch, dtmf=out.bundle.dtmf + result.dtmf
        )

    def held(self) -> int:
        return len(self._waiting) + len(self._out) + len(self._done)

    def room(self) -> bool:
        return not self._waiting and len(self._out) < self.executor.window

    def tick(self, now: float) -> None:
        """Hedge the tasks that are past their deadline on another worker, once each."""
        for out in self._out.values():
            if not out.hedged and out.bundle.deadline < now:
                out.hedged = True
                self.executor.hedge(out.task.id)

    def flush(self) -> None:
        self._fill()


class Flow:
    """The stages one after another; with none, bundles pass straight through."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages
        self._through: list[Bundle] = []
        self._ended = False

    def listen(self, notify: Notify) -> None:
        for stage in self.stages:
            stage.listen(notify)

    def push(self, bundle: Bundle) -> None:
        if self.stages:
            self.stages[0].submit(bundle)
        else:
            self._through.append(bundle)

    def pump(self) -> list[Bundle]:
        """Move what is ready along; the bundles through the last stage, in order."""
        for i, stage in enumerate(self.stages):
            for bundle in stage.ready():
                if i + 1 < len(self.stages):
                    self.stages[i + 1].submit(bundle)
                else:
                    self._through.append(bundle)
            if self._ended and all(not s.held() for s in self.stages[:i]):
                stage.flush()  # nothing more will come: what it gathered goes now
        out, self._through = self._through, []
        return out

    def end(self) -> None:
        """The input ended: every stage sends what it gathered once those before it are
        through."""
        self._ended = True
        if self.stages:
            self.stages[0].flush()

    def room(self) -> bool:
        return not self.stages or self.stages[0].room()

    def busy(self) -> bool:
        return any(stage.held() for stage in self.stages) or bool(self._through)

    def tick(self, now: float) -> None:
        for stage in self.stages:
            stage.tick(now)

    def flush(self) -> None:
        for stage in self.stages:
            stage.flush()
