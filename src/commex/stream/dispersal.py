"""Executors: where tasks are processed (in-process, a process pool, Dask, remote nodes).

Every executor is driven the same way, so that a live run can keep receiving packets while
its tasks are out: :meth:`~Executor.submit` hands a task over without waiting, and
:meth:`~Executor.results` returns the tasks finished since the last call, each exactly once.
An executor calls the function given to :meth:`~Executor.listen` (from any thread) when a
result is ready, so the caller sleeps until there is something to do. Each executor resubmits
the tasks of a worker that died, and :meth:`~Executor.hedge` runs a late task a second time
elsewhere (first answer wins). :meth:`~Executor.map_segments` drives an executor over an
iterable of tasks with at most ``window`` in flight, for callers that have them all at hand.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from commex.domain.errors import InvalidInput
from commex.stream.tasks import (
    SegmentResult,
    SegmentTask,
    StepFactory,
    default_step_factory,
    run_task,
)

Notify = Callable[[], None]


def _quiet() -> None:
    return None


class Waker:
    """A readiness flag that a ``select`` can wait on: :meth:`notify` from any thread makes
    :meth:`fileno` readable until :meth:`clear`."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)

    def fileno(self) -> int:
        return self._r.fileno()

    def notify(self) -> None:
        with contextlib.suppress(OSError):  # full (already readable) or closed
            self._w.send(b"\0")

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            while self._r.recv(4096):
                pass

    def wait(self, timeout: float) -> None:
        """Sleep until notified or ``timeout`` seconds passed, then clear."""
        select.select([self._r], [], [], max(0.0, timeout))
        self.clear()

    def close(self) -> None:
        self._r.close()
        self._w.close()


class Executor(Protocol):
    """Processes tasks somewhere; see the module notes for how it is driven."""

    name: str
    window: int
    in_process: bool

    def listen(self, notify: Notify) -> None: ...

    def warm(self) -> None: ...

    def submit(self, task: SegmentTask) -> None: ...

    def results(self) -> list[SegmentResult]: ...

    def hedge(self, task_id: int) -> bool: ...

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]: ...

    def close(self) -> None: ...


class BaseExecutor:
    """What every executor shares: the listener and :meth:`map_segments` over the streaming
    calls, which subclasses implement."""

    name = "executor"
    window = 1
    in_process = False  # tasks run in this process: nothing to gain from smaller tasks

    def __init__(self) -> None:
        self._notify: Notify = _quiet

    def listen(self, notify: Notify) -> None:
        """Call ``notify`` whenever a result becomes ready."""
        self._notify = notify

    def warm(self) -> None:
        """Get ready now (start workers, reach nodes), so the first task does not wait."""

    def submit(self, task: SegmentTask) -> None:
        raise NotImplementedError

    def results(self) -> list[SegmentResult]:
        raise NotImplementedError

    def hedge(self, task_id: int) -> bool:
        """Run task ``task_id`` once more elsewhere; False when there is nowhere else."""
        return False

    def discard(self) -> None:
        """Forget the tasks still out (their answers are dropped)."""

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]:
        """Every task's result, in completion order, with at most ``window`` tasks out."""
        waker = Waker()
        self.listen(waker.notify)
        source = iter(tasks)
        out = 0
        exhausted = False
        try:
            while True:
                while not exhausted and out < self.window:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                    else:
                        self.submit(task)
                        out += 1
                if out == 0:
                    return
                done = self.results()
                if not done:
                    waker.wait(1.0)
                for result in done:
                    out -= 1
                    yield result
        finally:
            self.listen(_quiet)
            waker.close()
            if out:
                self.discard()

    def close(self) -> None:
        return None

    def __enter__(self) -> BaseExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(BaseExecutor):
    """Runs each task in the calling thread when it is submitted: the reference every other
    executor matches, and the fastest for light steps (no hand-over at all)."""

    name = "inline"
    window = 1
    in_process = True

    def __init__(self, step_factory: StepFactory = default_step_factory) -> None:
        super().__init__()
        self._factory = step_factory
        self._done: list[SegmentResult] = []

    def submit(self, task: SegmentTask) -> None:
        self._done.append(run_task(task, self._factory))

    def results(self) -> list[SegmentResult]:
        done, self._done = self._done, []
        return done

    def discard(self) -> None:
        self._done = []


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

    def urls(self) -> list[str]:
        """The node URLs of a ``node:`` executor."""
        return [u for u in (self.address or "").split(",") if u]

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
    """The executor ``spec`` names; the heavier ones are imported only when asked for."""
    if spec.kind == "inline":
        return InlineExecutor(step_factory)
    if spec.kind == "process":
        from commex.stream.workerpool import ProcessExecutor  # noqa: PLC0415

        return ProcessExecutor(spec.workers, step_factory=step_factory)
    if spec.kind == "dask":
        from commex.stream.cluster import DaskExecutor  # noqa: PLC0415 - dask is heavy

        return DaskExecutor(spec.address, step_factory=step_factory)
    from commex.stream.nodeexecutor import NodeExecutor  # noqa: PLC0415

    return NodeExecutor(spec.urls(), token=token)
