"""A stream-processing run: the plan as data, and the runtime that carries it out.

A :class:`Plan` says what to read, which steps to apply, how to cut segments, where to run
them, what this provider offers and whom it may subcontract; it is checked when built and never
changes. :func:`run` ingests the input, cuts segments, runs the offered steps on the executor,
subcontracts the rest (S5), aggregates the results in input order (S6) and writes the output.
With a maximum rate the output is shaped (T4, :mod:`commex.stream.shaping`) and the report
says the rate it achieved. The exchange is reached only through the :class:`ProviderDirectory`
port; what a run delivered is handed to ``Services.on_result`` as it goes, for metering (S7).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from commex.domain.errors import InvalidInput, NotFound
from commex.stream import endpoints, segmenting, shaping
from commex.stream.aggregation import Aggregate, aggregate, timed
from commex.stream.dispersal import (
    Executor,
    ExecutorSpec,
    ResultLedger,
    SegmentTask,
    StepFactory,
    build_executor,
    check_result,
    default_step_factory,
)
from commex.stream.endpoints import Endpoint
from commex.stream.metering import stream_seconds
from commex.stream.packets import PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.subcontracting import (
    ClientFactory,
    Phase,
    Provider,
    ProviderDirectory,
    Subcontractor,
    local_capabilities,
    parse_subcontractor,
    plan_phases,
)

DEFAULT_SEGMENT = "packets:1000"
INLINE = ExecutorSpec("inline")


@dataclass(frozen=True)
class Plan:
    """Everything a run needs to know, checked once: see :meth:`build`."""

    input: Endpoint
    output: Endpoint
    steps: tuple[StepSpec, ...] = ()
    segment: str = DEFAULT_SEGMENT
    executor: ExecutorSpec = INLINE
    capabilities: frozenset[str] = frozenset()
    subcontractors: tuple[Provider, ...] = ()
    max_rate_bps: int | None = None
    burst_bytes: int | None = None
    idle_timeout_s: float = 2.0
    chunk_bytes: int = 4 << 20

    @classmethod
    def build(
        cls,
        input: str,
        output: str,
        *,
        steps: Sequence[str] = (),
        segment: str = DEFAULT_SEGMENT,
        executor: str = "inline",
        capabilities: Iterable[str] | None = None,
        subcontractors: Sequence[str] = (),
        max_rate_bps: int | None = None,
        burst_bytes: int | None = None,
        idle_timeout_s: float = 2.0,
    ) -> Plan:
        """A plan from command-line words; each bad word is an InvalidInput naming it."""
        source = Endpoint.parse(input, field="input")
        if source.kind == "file" and not Path(source.path).is_file():
            raise NotFound(f"input capture {source.path!r} does not exist", field="input")
        segmenting.SegmentPolicy.parse(segment)
        if max_rate_bps is not None and max_rate_bps <= 0:
            raise InvalidInput(
                f"--max-rate must be a positive number of bit/s, not {max_rate_bps}",
                field="max_rate",
            )
        if burst_bytes is not None and burst_bytes < 0:
            raise InvalidInput(
                f"--burst must be zero or more bytes, not {burst_bytes}", field="burst"
            )
        return cls(
            input=source,
            output=Endpoint.parse(output, field="output"),
            steps=tuple(StepSpec.parse(s) for s in steps),
            segment=segment,
            executor=ExecutorSpec.parse(executor),
            capabilities=(
                local_capabilities() if capabilities is None else frozenset(capabilities)
            ),
            subcontractors=tuple(parse_subcontractor(s) for s in subcontractors),
            max_rate_bps=max_rate_bps,
            burst_bytes=burst_bytes,
            idle_timeout_s=idle_timeout_s,
        )

    def phases(self) -> list[Phase]:
        """The steps cut into runs done here and steps done by subcontractors."""
        return plan_phases(self.steps, self.capabilities)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is: packets read, packets through the current phase, bytes read."""

    packets_in: int
    packets_done: int
    bytes_read: int
    total_bytes: int | None
    phase: int
    phases: int


@dataclass
class Services:
    """What a run takes from its caller; every field has a working default."""

    executor: Executor | None = None
    directory: ProviderDirectory | None = None
    step_factory: StepFactory = default_step_factory
    client_factory: ClientFactory | None = None
    token: str | None = None
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[Progress], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    on_ready: Callable[[Endpoint], None] | None = None
    on_result: Callable[[PacketBatch], None] | None = None
    sleep: Callable[[float], None] = time.sleep


def _headers_only(batch: PacketBatch) -> PacketBatch:
    """``batch`` without payloads: what the report needs of the input, at a fraction of the
    memory (the payloads live on in the segments)."""
    empty = np.zeros(len(batch) + 1, dtype=np.int64)
    return replace(
        batch,
        payload=np.zeros(0, dtype=np.uint8),
        offsets=empty,
        header_extra=np.zeros(0, dtype=np.uint8),
        extra_offsets=empty,
    )


class _Run:
    """The state of one run: what was read, the segments' current packets, what was found."""

    def __init__(self, plan: Plan, services: Services) -> None:
        self.plan, self.services = plan, services
        self.inputs: list[PacketBatch] = []
        self.parts: dict[int, PacketBatch] = {}
        self.dtmf: list[DtmfEvent] = []
        self.records: list[dict[str, object]] = []
        self.skipped = 0
        self.bytes_read = 0
        self.total_bytes: int | None = None
        self.packets_in = 0
        self.done = 0
        self.phase = 0
        self.phases = max(1, len(plan.phases()))

    def report(self) -> None:
        if self.services.progress is not None:
            self.services.progress(
                Progress(
                    self.packets_in,
                    self.done,
                    self.bytes_read,
                    self.total_bytes,
                    self.phase,
                    self.phases,
                )
            )

    def segments(self) -> Iterator[tuple[int, PacketBatch]]:
        """Read the input lazily and cut it into segments with ids unique in the run."""
        policy = segmenting.SegmentPolicy.parse(self.plan.segment)
        ids = itertools.count()
        for chunk in endpoints.read(
            self.plan.input,
            chunk_bytes=self.plan.chunk_bytes,
            idle_timeout_s=self.plan.idle_timeout_s,
            stop=self.services.stop,
            on_ready=self.services.on_ready,
        ):
            self.inputs.append(_headers_only(chunk.batch))
            self.skipped += chunk.skipped
            self.bytes_read, self.total_bytes = chunk.bytes_read, chunk.total_bytes
            self.packets_in += len(chunk.batch)
            self.report()
            for seg in segmenting.segment(chunk.batch, policy):
                yield next(ids), seg.batch

    def delivered(self, batch: PacketBatch) -> None:
        """Hand a segment that went through the first phase to ``on_result``."""
        if self.services.on_result is not None and len(batch):
            self.services.on_result(batch)

    def run_local(
        self,
        executor: Executor,
        steps: tuple[StepSpec, ...],
        parts: Iterable[tuple[int, PacketBatch]],
        *,
        first: bool = False,
    ) -> None:
        """Run ``steps`` on every segment with ``executor``; each result checked and kept once."""
        ledger = ResultLedger()
        sent: dict[int, SegmentTask] = {}

        def tasks() -> Iterator[SegmentTask]:
            for sid, batch in parts:
                task = SegmentTask(sid, batch, steps)
                ledger.expect(task)
                sent[sid] = task
                yield task

        for result in executor.map_segments(tasks()):
            ledger.accept(result)
            task = sent.pop(result.id)
            check_result(task, result)
            self.parts[result.id] = result.batch
            self.dtmf.extend(result.dtmf)
            self.done += len(task.batch)
            self.report()
            if first:
                self.delivered(result.batch)
        ledger.complete()

    def run_remote(self, subcontractor: Subcontractor, spec: StepSpec) -> None:
        """Have a subcontractor do ``spec`` on every segment's packets."""
        outcome = subcontractor.run(spec, self.parts)
        self.parts = outcome.parts
        self.dtmf.extend(outcome.dtmf)
        self.records.extend(outcome.records)
        self.done = self.packets_in
        self.report()


def _subcontractor(plan: Plan, services: Services) -> Subcontractor:
    return Subcontractor(
        plan.subcontractors,
        services.directory,
        token=services.token,
        client_factory=services.client_factory,
    )


def check(plan: Plan, services: Services | None = None) -> None:
    """Fail before reading anything when a step's argument is bad or no provider offers it."""
    services = services or Services()
    subcontractor = _subcontractor(plan, services)
    for phase in plan.phases():
        if phase.local:
            for spec in phase.steps:
                services.step_factory(spec)
        else:
            subcontractor.candidates(phase.steps[0])


def run(plan: Plan, services: Services | None = None) -> Aggregate:
    """Carry out ``plan``: read, segment, process, subcontract, aggregate and write."""
    services = services or Services()
    start = services.clock()
    phases = plan.phases()
    check(plan, services)
    subcontractor = _subcontractor(plan, services)
    state = _Run(plan, services)
    executor = services.executor
    owned = executor is None and any(p.local for p in phases)
    if owned:
        executor = build_executor(
            plan.executor, step_factory=services.step_factory, token=services.token
        )
    try:
        source: Iterable[tuple[int, PacketBatch]] = state.segments()
        if not phases:
            for sid, batch in source:
                state.parts[sid] = batch
                state.delivered(batch)
        for number, phase in enumerate(phases):
            state.phase, state.done = number, 0
            if number == 0 and not phase.local:
                state.parts = dict(source)
            if phase.local:
                assert executor is not None
                items = source if number == 0 else list(state.parts.items())
                state.run_local(executor, phase.steps, items, first=number == 0)
            else:
                state.run_remote(subcontractor, phase.steps[0])
    finally:
        subcontractor.close()
        if owned and executor is not None:
            executor.close()
    original = concat(with_streams(state.inputs)) if state.inputs else PacketBatch()
    result = aggregate(
        original,
        [state.parts[i] for i in sorted(state.parts)],
        state.dtmf,
        segments=len(state.parts),
        subcontracted=state.records,
        elapsed_s=services.clock() - start,
        skipped=state.skipped,
    )
    schedule = shaping.shape(result.batch, plan.max_rate_bps, burst_bytes=plan.burst_bytes)
    result.report.update(
        duration_s=round(stream_seconds(result.batch), 3),
        achieved_rate_bps=schedule.achieved_rate_bps(),
        shaped_to_bps=plan.max_rate_bps,
    )
    endpoints.write(plan.output, result.batch, schedule, clock=services.clock, sleep=services.sleep)
    timed(result.report, services.clock() - start)
    return result
