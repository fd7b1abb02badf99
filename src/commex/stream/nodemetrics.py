"""A processing node's own figures for Prometheus: segments and packets it processed, the time
each step took, and the plane's failovers and late results.

The node counts what it serves (:func:`timed_steps` wraps its step factory; :func:`served`
counts each answered segment) and the results it finished after its caller had stopped waiting
for them (:func:`late_results`: the caller's timeout passed and it moved the segment on). The
plane's node executor counts, in whichever process runs it, the answers that came after a
hedge on another node had already answered (:func:`late_results`) and the segments it moved
to another node after one failed (:func:`failover`). The figures
live in a registry of their own, so an exchange and a node in one process keep theirs apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from fastapi import FastAPI, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)

from commex.stream.packets import PacketBatch
from commex.stream.steps.base import Step, StepOutput, StepSpec

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class NodeFigures:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.segments = Counter("commex_node_segments", "Segments processed.", registry=r)
        self.packets = Counter("commex_node_packets", "Packets processed.", registry=r)
        self.step_seconds = Histogram(
            "commex_node_step_seconds",
            "Time one step took on one segment, by step.",
            ["step"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.failovers = Counter(
            "commex_node_failovers",
            "Segments moved to another worker or node after the one they were on failed.",
            registry=r,
        )
        self.late = Counter(
            "commex_node_late_results", "Results that arrived after they were due.", registry=r
        )


@functools.cache
def figures() -> NodeFigures:
    return NodeFigures()


def exposition() -> bytes:
    return generate_latest(figures().registry)


def install(app: FastAPI) -> None:
    """``GET /metrics`` on the node's app, behind the node's own authentication."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE)


def serve_metrics(host: str, port: int) -> Callable[[], None]:
    """The figures without authentication on ``host:port`` (for a scraper); returns what
    stops it."""
    server, thread = start_http_server(port, addr=host, registry=figures().registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def served(batch: PacketBatch) -> None:
    """The node answered one segment of ``batch``'s packets."""
    f = figures()
    f.segments.inc()
    f.packets.inc(len(batch))


def failover() -> None:
    figures().failovers.inc()


def late_results(count: int = 1) -> None:
    figures().late.inc(count)


class _TimedStep:
    """A step whose every application is timed under its name."""

    def __init__(self, step: Step) -> None:
        self._step = step
        self._seconds = figures().step_seconds.labels(step.spec.name)

    @property
    def spec(self) -> StepSpec:
        return self._step.spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        started = time.perf_counter()
        try:
            return self._step.apply(batch)
        finally:
            self._seconds.observe(time.perf_counter() - started)


def timed_steps(factory: Callable[[StepSpec], Step]) -> Callable[[StepSpec], Step]:
    """``factory``, with the time of each step it builds counted."""

    def build(spec: StepSpec) -> Step:
        return _TimedStep(factory(spec))

    return build
