"""The live runtime's parts on their own: segments that close by media or by time, the
playout FIFO, stages that give bundles back in order, and late work moved elsewhere."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import TOKEN, fake_step_factory, make_batch, serve_in_thread, token_clients

from commex.stream.dispersal import BaseExecutor, InlineExecutor, Waker
from commex.stream.flow import Bundle, Flow, LocalStage
from commex.stream.liveseg import LiveSegmenter
from commex.stream.node import create_node_app
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.outstats import OutStats
from commex.stream.packets import PacketBatch
from commex.stream.playout import Playout
from commex.stream.remotestage import RemoteStage
from commex.stream.segmenting import SegmentPolicy
from commex.stream.shaping import Shaper
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import Provider, Subcontractor
from commex.stream.tasks import SegmentFailed, SegmentResult, SegmentTask, run_task
from commex.stream.workerpool import ProcessExecutor

T0 = 1_800_000_000_000_000  # µs


def call(n: int, *, streams: int = 1, payload: int = 160, pt: int = 8) -> PacketBatch:
    """``n`` packets 20 ms apart per stream, arriving from T0 on."""
    batch = make_batch(n * streams, streams=streams, payload=payload, pt=pt)
    return replace(batch, arrival_us=batch.arrival_us + T0)


# --- live segmenting -------------------------------------------------------------------------


def test_a_20_ms_packet_fills_a_20_ms_segment_at_once() -> None:
    seg = LiveSegmenter(SegmentPolicy.parse("ms:20"))
    packets = call(3, streams=2)
    seg.add(packets)
    closed = seg.close(T0)  # no time has passed: complete by their media alone
    assert closed is not None
    batch, segments = closed
    assert (len(batch), segments) == (6, 6) and seg.held() == 0
    assert batch.index.tolist() == sorted(batch.index.tolist())


def test_a_segment_waits_for_its_media_then_for_its_hold_at_most() -> None:
    seg = LiveSegmenter(SegmentPolicy.parse("ms:40"))
    packets = call(3)  # 20 ms each: two fill a segment, the third waits
    seg.add(packets.take([0]))
    assert seg.close(T0) is None
    seg.add(packets.take([1, 2]))
    batch, segments = seg.close(T0 + 20_000) or (None, 0)
    assert batch is not None and batch.index.tolist() == [0, 1] and segments == 1
    first = int(packets.arrival_us[2])
    assert seg.next_deadline_us() == first + 40_000
    assert seg.close(first + 39_999) is None  # still inside its hold
    lone = seg.close(first + 40_000)  # the stream paused: it goes anyway
    assert lone is not None and lone[0].index.tolist() == [2]


def test_packets_without_media_time_close_by_time() -> None:
    seg = LiveSegmenter(SegmentPolicy.parse("ms:20"))
    noise = call(2, payload=1, pt=13)  # comfort noise: lasts nothing by itself
    noise = replace(noise, arrival_us=np.array([T0, T0 + 10_000]))
    seg.add(noise)
    assert seg.close(int(noise.arrival_us[1])) is None
    closed = seg.close(int(noise.arrival_us[0]) + 20_000)  # the first one's hold is over
    assert closed is not None and closed[0].index.tolist() == [0, 1] and closed[1] == 1


def test_an_ending_stream_closes_now_and_everything_closes_at_the_end() -> None:
    seg = LiveSegmenter(SegmentPolicy.parse("packets:10"))
    packets = call(3, streams=2)
    seg.add(packets)
    ending = np.array([True, False])
    closed = seg.close(T0, ending=ending)
    assert closed is not None and set(closed[0].stream.tolist()) == {0}
    rest = seg.close(T0, everything=True)
    assert rest is not None and set(rest[0].stream.tolist()) == {1} and seg.held() == 0


# --- playout ---------------------------------------------------------------------------------


class _Sent:
    """Stands in for the UDP sender: keeps what it was given."""

    def __init__(self) -> None:
        self.batches: list[PacketBatch] = []

    def send(self, batch: PacketBatch) -> None:
        self.batches.append(batch)

    def sent(self) -> list[int]:
        return [int(s) for b in self.batches for s in b.seq.tolist()]


def _playout(delay_us: int = 40_000) -> tuple[Playout, _Sent, OutStats]:
    sender = _Sent()
    stats = OutStats(latency=True)
    playout = Playout(sender, delay_us=delay_us, shaper=Shaper(None), stats=stats)  # type: ignore[arg-type]
    return playout, sender, stats


def test_each_packet_leaves_at_its_arrival_plus_the_delay() -> None:
    playout, sender, stats = _playout()
    packets = call(5)  # 20 ms apart
    playout.put(packets, T0)
    assert playout.due(T0 + 37_000) == T0 + 40_000 and sender.sent() == []
    playout.due(T0 + 40_000)
    assert sender.sent() == [0]
    playout.due(T0 + 100_000)
    assert sender.sent() == [0, 1, 2, 3]
    assert playout.due(T0 + 200_000) == math.inf and playout.waiting() == 0
    figures = stats.figures(0)
    assert figures.packets == 5 and figures.late == 0


def test_a_packet_that_came_out_of_order_still_leaves_first() -> None:
    playout, sender, _ = _playout()
    packets = call(4)  # sequence numbers 0 to 3
    playout.put(packets.take([0, 2]), T0)  # 1 is held up on the network...
    late = replace(packets.take([1]), arrival_us=packets.arrival_us[[3]] - 5_000)
    playout.put(late, T0 + 60_000)  # ...and arrives after 2, before 2 leaves
    playout.put(packets.take([3]), T0 + 60_000)
    playout.due(T0 + 400_000)
    assert sender.sent() == [0, 1, 2, 3]


def test_a_result_back_after_its_playout_time_is_counted_late() -> None:
    playout, sender, stats = _playout()
    packets = call(3)
    playout.put(packets, T0 + 50_000)  # the first packet was due at T0 + 40 ms
    playout.due(T0 + 50_000)
    assert sender.sent() == [0]  # it leaves at once; the others keep their time
    playout.due(T0 + 300_000)
    assert stats.figures(0).late == 1


# --- stages ----------------------------------------------------------------------------------


class _Backwards(BaseExecutor):
    """Finishes every task, but hands results back newest first (like a pool whose first
    worker is slow)."""

    name = "backwards"
    window = 8

    def __init__(self) -> None:
        super().__init__()
        self.out: list[SegmentTask] = []
        self.sizes: list[int] = []
        self.hedged: list[int] = []

    def submit(self, task: SegmentTask) -> None:
        self.out.append(task)
        self.sizes.append(len(task.batch))

    def results(self) -> list[SegmentResult]:
        done = [run_task(t, fake_step_factory) for t in reversed(self.out)]
        self.out = []
        return done

    def hedge(self, task_id: int) -> bool:
        self.hedged.append(task_id)
        return True


def _bundles(count: int, *, deadline: float = math.inf) -> list[Bundle]:
    batch = make_batch(count * 10, streams=2)
    return [
        Bundle.of(i, batch.take(np.arange(i * 10, (i + 1) * 10)), 1, deadline=deadline)
        for i in range(count)
    ]


def test_a_stage_gives_bundles_back_in_order_whatever_order_they_finish_in() -> None:
    stage = LocalStage(_Backwards(), (StepSpec("invert"),), live=False)
    for bundle in _bundles(5):
        stage.submit(bundle)
    out = stage.ready()
    assert [b.first for b in out] == [0, 1, 2, 3, 4]
    assert all(np.array_equal(b.batch.payload, b0.batch.payload ^ 0xFF)
               for b, b0 in zip(out, _bundles(5), strict=True))  # fmt: skip


def test_a_live_stage_that_fell_behind_catches_up_in_one_task() -> None:
    executor = _Backwards()
    executor.window = 1
    stage = LocalStage(executor, (StepSpec("invert"),), live=True)
    for bundle in _bundles(4):
        stage.submit(bundle)
    assert executor.sizes == [10]  # the first went; three wait for room
    first, merged = stage.ready()
    assert executor.sizes == [10, 30]  # the three went as one task as soon as there was room
    assert (first.first, merged.first, merged.last, merged.segments) == (0, 1, 3, 3)
    assert np.array_equal(merged.sent_index, np.arange(10, 40))


def test_a_result_for_no_task_out_is_refused() -> None:
    class _Stray(_Backwards):
        def results(self) -> list[SegmentResult]:
            return [SegmentResult(99, make_batch(1))]

    stage = LocalStage(_Stray(), (StepSpec("invert"),), live=False)
    stage.submit(_bundles(1)[0])
    with pytest.raises(SegmentFailed, match="not out"):
        stage.ready()


def test_a_task_past_its_deadline_is_hedged_once() -> None:
    executor = _Backwards()
    stage = LocalStage(executor, (StepSpec("invert"),), live=True)
    (bundle,) = _bundles(1, deadline=100.0)
    stage.submit(bundle)
    stage.tick(99.0)
    assert executor.hedged == []
    stage.tick(101.0)
    stage.tick(102.0)
    assert executor.hedged == [0]


def test_a_flow_without_steps_passes_bundles_straight_through() -> None:
    flow = Flow([])
    for bundle in _bundles(2):
        flow.push(bundle)
    assert [b.first for b in flow.pump()] == [0, 1] and not flow.busy()


def test_an_inline_flow_answers_in_the_same_pass() -> None:
    flow = Flow([LocalStage(InlineExecutor(fake_step_factory), (StepSpec("invert"),),
                            live=True)])  # fmt: skip
    for bundle in _bundles(3):
        flow.push(bundle)
    out = flow.pump()  # the bundles that waited for the one in hand go together at once
    assert [(b.first, b.last) for b in out] == [(0, 0), (1, 2)] and not flow.busy()


# --- hedging on a real pool --------------------------------------------------------------------


def test_a_pool_task_hedged_on_a_second_worker_is_answered_once(tmp_path) -> None:
    factory = functools.partial(fake_step_factory, marker=str(tmp_path / "stalled"))
    task = SegmentTask(0, make_batch(20), (StepSpec("stall", "3000"),))
    waker = Waker()
    with ProcessExecutor(2, step_factory=factory) as pool:
        pool.warm()
        pool.listen(waker.notify)
        pool.submit(task)
        deadline = time.monotonic() + 20
        while not (tmp_path / "stalled").exists():  # the first worker is stuck in it
            assert time.monotonic() < deadline
            waker.wait(0.05)
        started = time.monotonic()
        assert pool.hedge(0) and not pool.hedge(0)  # once, on the other worker
        got: list[SegmentResult] = []
        while not got:
            assert time.monotonic() < deadline
            waker.wait(0.1)
            got = pool.results()
        answered_in = time.monotonic() - started
        later = []
        while time.monotonic() < started + 3.5:  # the stuck run finishes and is dropped
            waker.wait(0.1)
            later += pool.results()
    waker.close()
    assert [r.id for r in got] == [0] and later == []
    assert answered_in < 2.5  # by the second worker, not after the first one's stall


# --- late work moves to the next node or provider --------------------------------------------


def _wait_for(flow: Flow, waker: Waker, count: int, *, tick: float | None = None) -> list[Bundle]:
    out: list[Bundle] = []
    deadline = time.monotonic() + 20
    while len(out) < count:
        assert time.monotonic() < deadline, "the bundles did not come back"
        if tick is not None:
            flow.tick(tick)
        out += flow.pump()
        if len(out) < count:
            waker.wait(0.05)
    return out


@pytest.fixture
def stalling_nodes(tmp_path):
    """Two nodes offering ``stall``: whichever runs it first sleeps, the other is quick."""
    factory = functools.partial(fake_step_factory, marker=str(tmp_path / "stalled"))
    apps = [create_node_app({"stall"}, TOKEN, step_factory=factory) for _ in range(2)]
    with serve_in_thread(apps[0]) as slow, serve_in_thread(apps[1]) as quick:
        yield slow, quick


@pytest.mark.serial  # the hand-over must beat the slow node's 3 s by the clock
def test_a_late_subcontract_goes_to_the_next_provider_which_keeps_the_work(
    stalling_nodes,
) -> None:
    slow, quick = stalling_nodes
    sub = Subcontractor(
        [Provider("slow", slow), Provider("quick", quick)], client_factory=token_clients()
    )
    stage = RemoteStage(sub, StepSpec("stall", "3000"), live=True)
    flow = Flow([stage])
    waker = Waker()
    flow.listen(waker.notify)
    try:
        started = time.monotonic()
        first, second = _bundles(2, deadline=0.0)  # due out already: late from the start
        flow.push(first)
        flow.flush()
        (back,) = _wait_for(flow, waker, 1, tick=1.0)
        assert time.monotonic() - started < 2.5  # not the slow provider's 3 s
        flow.push(second)
        flow.flush()
        _wait_for(flow, waker, 1)
    finally:
        stage.close()
        sub.close()
        waker.close()
    assert back.first == 0 and len(back.batch) == 10
    # Quick keeps the work; slow's answer came after quick's, past the deadline: late, and
    # not taken (both bundles were due out already, so quick's answers were late too).
    records = {r.provider: (r.segments, r.late_packets) for r in stage.records()}
    assert records == {"quick": (2, 20), "slow": (0, 10)}


@pytest.mark.serial  # the hand-over must beat the slow node's 3 s by the clock
def test_a_late_task_on_a_node_is_hedged_on_the_next(stalling_nodes) -> None:
    slow, quick = stalling_nodes
    executor = NodeExecutor([slow, quick], token=TOKEN)
    stage = LocalStage(executor, (StepSpec("stall", "3000"),), live=True)
    flow = Flow([stage])
    waker = Waker()
    flow.listen(waker.notify)
    try:
        started = time.monotonic()
        flow.push(_bundles(1, deadline=0.0)[0])
        (back,) = _wait_for(flow, waker, 1, tick=1.0)
        took = time.monotonic() - started
    finally:
        executor.close()  # waits for the stalled call
        waker.close()
    assert took < 2.5  # the second node answered; the first was still asleep
    assert np.array_equal(back.batch.index, _bundles(1)[0].batch.index)


def test_the_rate_achieved_is_measured_on_the_departures() -> None:
    playout, _, _ = _playout()
    packets = call(50)  # one 172-byte packet every 20 ms: 68,800 bit/s
    playout.put(packets, T0)
    playout.due(T0 + 2_000_000)
    assert playout.rate.rate_bps() == 68_800


class _Answering:
    """Another provider's node answering at once with what it was sent."""

    def process(self, task: SegmentTask) -> SegmentResult:
        return SegmentResult(task.id, task.batch, ())

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("deadline", "late"), [(50.0, 10), (200.0, 0)])
def test_a_live_answer_after_its_bundles_deadline_is_counted_late(deadline, late) -> None:
    sub = Subcontractor([Provider("bravo", "http://b")], client_factory=lambda p: _Answering())
    stage = RemoteStage(sub, StepSpec("invert"), live=True, clock=lambda: 100.0)
    flow = Flow([stage])
    waker = Waker()
    flow.listen(waker.notify)
    try:
        (bundle,) = _bundles(1, deadline=deadline)
        flow.push(bundle)
        flow.flush()
        _wait_for(flow, waker, 1)
    finally:
        stage.close()
        waker.close()
    (record,) = stage.records()
    assert (record.provider, record.packets, record.late_packets) == ("bravo", 10, late)
    assert ("late_packets" in record.to_json()) is bool(late)
