"""A processing node's own figures: ``GET /metrics`` behind the node token shows the segments
and packets it processed and each step's time, and a plane moving segments off a failing node
counts its failovers; a result finished after its caller stopped waiting counts as late."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client.parser import text_string_to_metric_families
from stream_helpers import TOKEN, fake_step_factory, make_batch, serve_in_thread

from commex.stream import nodemetrics, wire
from commex.stream.node import create_node_app
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.packets import PacketBatch
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.tasks import SegmentResult, SegmentTask

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _figures(client: httpx.Client) -> dict[str, float]:
    answer = client.get("/metrics", headers=AUTH)
    assert answer.status_code == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            out[s.name + "".join(f"{k}={v}" for k, v in sorted(s.labels.items()))] = s.value
    return out


def _node() -> FastAPI:
    app = create_node_app(
        {"invert", "tag"}, TOKEN, step_factory=nodemetrics.timed_steps(fake_step_factory)
    )
    nodemetrics.install(app)
    return app


def test_a_node_counts_segments_packets_and_each_steps_time() -> None:
    with serve_in_thread(_node()) as url, httpx.Client(base_url=url) as client:
        assert client.get("/metrics").status_code == 401  # the node's token, as for work
        before = _figures(client)
        for n in (20, 30):
            frame = wire.encode(make_batch(n), {"segment": n, "steps": ["invert", "tag"]})
            assert client.post("/v1/node/process", content=frame, headers=AUTH).status_code == 200
        refused = wire.encode(make_batch(5), {"segment": 9, "steps": ["gain:3"]})
        assert client.post("/v1/node/process", content=refused, headers=AUTH).status_code == 422
        after = _figures(client)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew("commex_node_segments_total") == 2
    assert grew("commex_node_packets_total") == 50
    for step in ("invert", "tag"):
        assert grew(f"commex_node_step_seconds_countstep={step}") == 2
        assert grew(f"commex_node_step_seconds_sumstep={step}") > 0


def test_moving_segments_off_a_failing_node_counts_failovers() -> None:
    broken = FastAPI()

    @broken.post("/v1/node/process")
    async def fail() -> JSONResponse:
        return JSONResponse({"error": {"code": "boom", "message": "out of memory"}}, 503)

    batch = make_batch(100)
    tasks = [
        SegmentTask(i, batch.take(np.arange(i * 20, (i + 1) * 20)), (StepSpec("invert"),))
        for i in range(5)
    ]
    registry = nodemetrics.figures().registry

    def failovers() -> float:
        return registry.get_sample_value("commex_node_failovers_total") or 0.0

    before = failovers()
    with (
        serve_in_thread(_node()) as good,
        serve_in_thread(broken) as bad,
        NodeExecutor([bad, good], token=TOKEN) as ex,
    ):
        results = list(ex.map_segments(tasks))
    assert sorted(r.id for r in results) == list(range(5))
    # Round-robin starts these on the bad node; once it has failed it is passed over for a
    # while, so a segment started later may go to the good one first and need no failover.
    started_on_bad = sum(1 for t in tasks if t.id % 2 == 0)
    assert 1 <= failovers() - before <= started_on_bad


class _Held:
    """A step that answers only once the test lets it."""

    def __init__(self, spec: StepSpec, release: threading.Event) -> None:
        self.spec = spec
        self._release = release

    def apply(self, batch: PacketBatch) -> StepOutput:
        assert self._release.wait(timeout=10), "the test never released the step"
        return StepOutput(batch)


def test_a_result_its_caller_stopped_waiting_for_counts_as_late() -> None:
    release = threading.Event()
    app = create_node_app({"hold"}, TOKEN, step_factory=lambda spec: _Held(spec, release))
    nodemetrics.install(app)
    registry = nodemetrics.figures().registry

    def count(name: str) -> float:
        return registry.get_sample_value(name) or 0.0

    frame = wire.encode(make_batch(10), {"segment": 1, "steps": ["hold"]})
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        release.set()  # a caller that waits for its answer: on time
        before = count("commex_node_late_results_total")
        assert client.post("/v1/node/process", content=frame, headers=AUTH).status_code == 200
        assert count("commex_node_late_results_total") == before
        release.clear()  # a caller that gives up before the step is done
        served = count("commex_node_segments_total")
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/node/process", content=frame, headers=AUTH, timeout=0.3)
        release.set()
        deadline = time.monotonic() + 10
        late = "commex_node_late_results_total"
        while count(late) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert count(late) == before + 1
        assert count("commex_node_segments_total") == served + 1  # done, for no one


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"no {what} within 10 s"
        time.sleep(0.01)


def test_a_hedge_that_answers_first_makes_the_slow_nodes_answer_late() -> None:
    slow, fast = threading.Event(), threading.Event()
    fast.set()
    apps = [
        create_node_app({"hold"}, TOKEN, step_factory=lambda spec, e=e: _Held(spec, e))
        for e in (slow, fast)
    ]
    registry = nodemetrics.figures().registry

    def late() -> float:
        return registry.get_sample_value("commex_node_late_results_total") or 0.0

    task = SegmentTask(1, make_batch(10), (StepSpec("hold"),))
    before = late()
    with (
        serve_in_thread(apps[0]) as first,
        serve_in_thread(apps[1]) as second,
        NodeExecutor([first, second], token=TOKEN) as ex,
    ):
        ex.submit(task)  # on the first node, which holds it
        assert ex.hedge(task.id)  # the same segment on the second node, which answers
        got: list[SegmentResult] = []
        _wait_for(lambda: bool(got.extend(ex.results()) or got), "answer from the hedge")
        assert [r.id for r in got] == [1] and late() == before
        slow.set()  # the first node's answer now comes, after the segment was answered
        _wait_for(lambda: late() > before, "late result counted")
    assert late() == before + 1
