"""The streaming runtime: a plan carried out segment by segment, input to output.

:func:`execute` builds the stages (this provider's steps on the executor, each missing step
with a subcontractor), then runs a capture (:func:`run_capture`, here) or a live socket
(:mod:`commex.stream.liverun`) through them. A capture is read chunk by chunk; each chunk's
segments go out as bundles while the next chunk is read, with no more in flight than the
stages take, and each chunk is written as soon as all of its bundles are back, so memory does
not grow with the capture's length.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from commex.stream import endpoints, realtime, segmenting
from commex.stream.aggregation import Aggregator
from commex.stream.dispersal import Executor, Waker, build_executor
from commex.stream.flow import Bundle, Flow, LocalStage, Stage
from commex.stream.outputs import CaptureOutput, ChunkOutput, PacedUdpOutput
from commex.stream.packets import PacketBatch, StreamKey, concat
from commex.stream.pipeline import Plan, Progress, Services, check, subcontractor
from commex.stream.remotestage import RemoteStage
from commex.stream.report import RunReport, Subcontracted
from commex.stream.segmenting import Segment
from commex.stream.shaping import Shaper
from commex.stream.subcontracting import Subcontractor
from commex.stream.tally import Tally
from commex.stream.udp import UdpSink

BUNDLE_PACKETS = 1000  # consecutive small segments of a chunk go out together up to this


@dataclass
class Context:
    """What one run holds while it goes: the plan, the caller's services, the stages and
    the counts."""

    plan: Plan
    services: Services
    flow: Flow
    remote: list[RemoteStage]
    executor_name: str
    started: float
    tally: Tally
    aggregator: Aggregator = field(default_factory=Aggregator)
    keys: tuple[StreamKey, ...] = ()

    def deliver(self, output: ChunkOutput, bundle: Bundle) -> PacketBatch:
        """A bundle through every stage: renumbered, handed on, and out."""
        batch = self.aggregator.take(
            bundle.batch, bundle.sent_index, bundle.sent_stream, bundle.dtmf
        )
        output.put(batch, bundle.chunk)
        if self.services.on_result is not None and len(batch):
            self.services.on_result(batch)
        return batch

    def records(self) -> list[Subcontracted]:
        return [r for stage in self.remote for r in stage.records()]

    def report(self, achieved_rate_bps: int, playout_delay_ms: float | None) -> RunReport:
        return self.tally.report(
            elapsed_s=self.services.clock() - self.started,
            achieved_rate_bps=achieved_rate_bps,
            shaped_to_bps=self.plan.max_rate_bps,
            subcontracted=self.records(),
            dtmf=self.aggregator.dtmf,
            playout_delay_ms=playout_delay_ms,
            segment=self.plan.segment,
            executor=self.executor_name,
        )

    def progress(self, done: int, streams: int = 0, late: int = 0) -> None:
        if self.services.progress is not None:
            t = self.tally
            self.services.progress(
                Progress(t.packets_in, done, t.bytes_read, t.total_bytes, streams, late)
            )


def _stages(
    plan: Plan, executor: Executor | None, sub: Subcontractor
) -> tuple[list[Stage], list[RemoteStage]]:
    stages: list[Stage] = []
    remote: list[RemoteStage] = []
    for phase in plan.phases():
        if phase.local:
            assert executor is not None
            stages.append(LocalStage(executor, phase.steps, live=plan.live))
        else:
            stage = RemoteStage(sub, phase.steps[0], live=plan.live)
            remote.append(stage)
            stages.append(stage)
    return stages, remote


def execute(plan: Plan, services: Services) -> RunReport:
    """Carry out ``plan`` (see the module notes)."""
    check(plan, services)
    started = services.clock()
    executor = services.executor
    owned = executor is None and any(p.local for p in plan.phases())
    if owned:
        executor = build_executor(
            plan.executor, step_factory=services.step_factory, token=services.token
        )
    sub = subcontractor(plan, services)
    remote: list[RemoteStage] = []
    try:
        stages, remote = _stages(plan, executor, sub)
        live_out = plan.live and plan.output.kind == "udp"
        ctx = Context(
            plan, services, Flow(stages), remote,
            executor.name if executor is not None else "none", started,
            Tally(live=plan.live, latency=live_out),
        )  # fmt: skip
        if plan.live:
            from commex.stream.liverun import run_live  # noqa: PLC0415

            if plan.realtime:  # before the pool starts, so that its workers inherit it
                ctx.tally.realtime = realtime.request()
            if executor is not None:
                executor.warm()  # a call's first packets must not wait for workers to start
            return run_live(ctx)
        return run_capture(ctx)
    finally:
        for stage in remote:
            stage.close()
        sub.close()
        if owned and executor is not None:
            executor.close()


def file_output(ctx: Context) -> ChunkOutput:
    """Where a run that is not a live relay writes: a capture, or UDP paced to the shaper."""
    plan, services = ctx.plan, ctx.services
    shaper = Shaper(plan.max_rate_bps, plan.burst_bytes)
    if plan.output.kind == "file":
        return CaptureOutput(plan.output.path, shaper, ctx.tally.outstats)
    sink = UdpSink(plan.output.host, plan.output.port)
    return PacedUdpOutput(
        sink, shaper, ctx.tally.outstats, clock=services.clock, sleep=services.sleep
    )


def bundles(
    batch: PacketBatch, policy: segmenting.SegmentPolicy, chunk: int, numbers: Iterator[int]
) -> Iterator[tuple[Bundle, int]]:
    """The segments of one chunk, consecutive small ones together, with their count."""
    group: list[Segment] = []
    size = 0
    for seg in segmenting.segment(batch, policy):
        if group and size + len(seg.batch) > BUNDLE_PACKETS:
            yield _bundle(group, chunk, next(numbers)), len(group)
            group, size = [], 0
        group.append(seg)
        size += len(seg.batch)
    if group:
        yield _bundle(group, chunk, next(numbers)), len(group)


def _bundle(group: list[Segment], chunk: int, number: int) -> Bundle:
    batch = group[0].batch if len(group) == 1 else concat([s.batch for s in group])
    return Bundle.of(number, batch, len(group), chunk=chunk)


@dataclass
class _Prepared:
    """A chunk counted and cut into bundles, ahead of the stages."""

    chunk: endpoints.Chunk
    bundles: list[tuple[Bundle, int]]


def _preparer(ctx: Context) -> Callable[[endpoints.Chunk], _Prepared]:
    """What the read-ahead thread does with each chunk: its input figures and its bundles
    (that thread alone touches the input figures until the capture is read)."""
    policy = segmenting.SegmentPolicy.parse(ctx.plan.segment)
    numbers = itertools.count()
    chunks = itertools.count()

    def prepare(chunk: endpoints.Chunk) -> _Prepared:
        ctx.tally.instats.add(chunk.batch)
        return _Prepared(chunk, list(bundles(chunk.batch, policy, next(chunks), numbers)))

    return prepare


def run_capture(ctx: Context) -> RunReport:
    """A capture through the stages, chunk by chunk (see the module notes)."""
    output = file_output(ctx)
    waker = Waker()
    ctx.flow.listen(waker.notify)
    try:
        _feed(ctx, output, waker)
        ctx.flow.end()
        while ctx.flow.busy():
            _settle(ctx, output, waker)
        output.finish()
        ctx.progress(ctx.tally.outstats.packets_total)
    finally:
        ctx.flow.listen(lambda: None)
        waker.close()
        output.close()
    for sid, key in enumerate(ctx.keys):
        ctx.tally.finish(sid, key, "end")
    return ctx.report(output.rate.rate_bps(), None)


def _feed(ctx: Context, output: ChunkOutput, waker: Waker) -> None:
    """Every chunk's bundles into the stages, as the stages make room."""
    ahead = endpoints.read_ahead(ctx.plan.input, _preparer(ctx), chunk_bytes=ctx.plan.chunk_bytes)
    with contextlib.closing(ahead) as chunks:
        for prepared in chunks:
            ctx.keys = prepared.chunk.batch.streams or ctx.keys
            _read(ctx, prepared.chunk)
            for bundle, segments in prepared.bundles:
                ctx.tally.segments += segments
                while not ctx.flow.room():
                    _settle(ctx, output, waker)
                ctx.flow.push(bundle)
            _pump(ctx, output)


def _read(ctx: Context, chunk: endpoints.Chunk) -> None:
    t = ctx.tally
    t.packets_in += len(chunk.batch)
    t.skipped += chunk.skipped
    t.bytes_read, t.total_bytes = chunk.bytes_read, chunk.total_bytes
    ctx.progress(t.outstats.packets_total)


def _pump(ctx: Context, output: ChunkOutput) -> bool:
    moved = False
    for bundle in ctx.flow.pump():
        ctx.deliver(output, bundle)
        moved = True
    output.due(ctx.services.clock())
    if moved:
        ctx.progress(ctx.tally.outstats.packets_total)
    return moved


def _settle(ctx: Context, output: ChunkOutput, waker: Waker) -> None:
    """Wait for a stage to give something back, and move it along."""
    if not _pump(ctx, output):
        next_due = output.due(ctx.services.clock())
        wait = min(0.5, next_due - ctx.services.clock()) if next_due < math.inf else 0.5
        waker.wait(wait)
        _pump(ctx, output)
