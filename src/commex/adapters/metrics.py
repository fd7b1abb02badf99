"""The exchange's figures for Prometheus (O1), with ``prometheus-client``.

Requests by route template and status with their latency (counted by
:class:`commex.api.metrics.HttpMetrics`), bids accepted and refused by reason, auctions closed
and cancelled, how late the scheduler closes auctions, charge attempts by outcome, usage reports,
and the live pages' server-sent event clients.

**Several processes.** ``commex serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before any figure is made (:func:`prepare_multiprocess`); every server process then writes its
figures there, and :func:`exposition` adds them up, so ``/metrics`` shows the whole server
whichever process answers. Without it (tests, a library user) the figures are this process's
own.

**Counted per turn.** In multiprocess mode every figure written is a locked write to a shared
file, and the hot path writes four per bid (its request, its latency's sum and bucket, the bid).
What an event loop counts (:func:`count`, :func:`observe`) is added up during the loop's turn
and written once at its end, one write per series however many answers the turn gave; counted
anywhere else, it is written at once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
    values,
)

from commex.domain.errors import CommexError
from commex.domain.events import AuctionCancelled, AuctionClosed, ChargeAttempted, Event
from commex.services.bus import MessageBus
from commex.services.commands import PlaceBid, RecordDelivery, ReportUsage

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Figures:
    """Every figure of the exchange, made once per process (see :func:`figures`)."""

    def __init__(self) -> None:
        self.http_requests = Counter(
            "commex_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
        )
        self.http_latency = Histogram(
            "commex_http_request_duration_seconds",
            "Time to answer an HTTP request (to the last byte of a non-streaming answer).",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
        )
        self.bids_accepted = Counter("commex_bids_accepted", "Bids accepted.")
        self.bids_refused = Counter(
            "commex_bids_refused", "Bids refused, by reason (the error code answered).", ["reason"]
        )
        self.auctions_closed = Counter("commex_auctions_closed", "Auctions closed and awarded.")
        self.auctions_cancelled = Counter("commex_auctions_cancelled", "Auctions cancelled.")
        self.scheduler_lag = Histogram(
            "commex_scheduler_lag_seconds",
            "How long after its close time the scheduler closed each auction.",
            buckets=_LAG_BUCKETS,
        )
        self.scheduler_last_run = Gauge(
            "commex_scheduler_last_run_timestamp_seconds",
            "When the closing scheduler last finished a pass (Unix time).",
            multiprocess_mode="max",
        )
        self.charge_attempts = Counter(
            "commex_charge_attempts",
            "Attempts to charge a payer, by outcome: succeeded, declined, no_card, error.",
            ["outcome"],
        )
        self.usage_reports = Counter(
            "commex_usage_reports",
            "Usage reports from members (source=member) and packet planes (source=plane), by "
            "outcome: accepted, cut (by the block or the window), or the refusal's error code.",
            ["source", "outcome"],
        )
        self.sse_clients = Gauge(
            "commex_sse_clients",
            "Live pages connected for server-sent events.",
            multiprocess_mode="livesum",
        )


@functools.cache
def figures() -> Figures:
    """The process's figures, made on first use: after :func:`prepare_multiprocess`, so they
    are written where every server process adds them up."""
    return Figures()


def multiprocess_mode() -> bool:
    """Whether this process writes its figures to the shared directory."""
    return values.ValueClass is not values.MutexValue


def exposition() -> tuple[bytes, str]:
    """The text exposition of every figure (of every server process in multiprocess mode),
    and its content type."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def _registry() -> CollectorRegistry:
    """What to expose: every server process's figures, added up, or this process's own."""
    if not multiprocess_mode():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def serve_metrics(host: str, port: int) -> Callable[[], None]:
    """Serve the exposition without authentication on ``host:port`` from a thread of this
    process (the one that started the server's workers); returns what stops it."""
    server, thread = start_http_server(port, addr=host, registry=_registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def process_exited(pid: int | None = None) -> None:
    """Forget a finished server process's live gauges (its counters stay in the sums)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


class _Turn(threading.local):
    """What this thread's event loop counted in its current turn, not yet written."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None  # set while a write is due
        self.counts: dict[Counter, int] = {}
        self.times: dict[Histogram, list[float]] = {}


_turn = _Turn()


def count(counter: Counter) -> None:
    """``counter.inc()``, at the end of the loop's turn when on an event loop."""
    turn = _turn
    if _later(turn):
        turn.counts[counter] = turn.counts.get(counter, 0) + 1
    else:
        counter.inc()


def observe(histogram: Histogram, value: float) -> None:
    """``histogram.observe(value)``, at the end of the loop's turn when on an event loop."""
    turn = _turn
    if _later(turn):
        turn.times.setdefault(histogram, []).append(value)
    else:
        histogram.observe(value)


def _later(turn: _Turn) -> bool:
    """Whether what is counted now waits for the end of the running loop's turn (False off a
    loop); the first count of a turn asks the loop to write them all."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if turn.loop is not loop:
        if turn.loop is not None:  # a loop of this thread stopped before its turn ended
            _write_turn(turn)
        turn.loop = loop
        loop.call_soon(_write_turn, turn)
    return True


def _write_turn(turn: _Turn) -> None:
    counts, times = turn.counts, turn.times
    turn.loop, turn.counts, turn.times = None, {}, {}
    for counter, n in counts.items():
        counter.inc(n)
    for histogram, seen in times.items():
        observe_all(histogram, seen)


def observe_all(histogram: Histogram, seen: Sequence[float]) -> None:
    """``histogram.observe`` of each value, with one write to its sum and one to each bucket
    that gained any (``observe`` writes both for each value). It reaches into the histogram's
    buckets (``prometheus_client`` has no call for many values); a version without them gets
    one ``observe`` per value."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in seen:
            histogram.observe(value)
        return
    gained = [0] * len(bounds)
    for value in seen:
        gained[bisect_left(bounds, value)] += 1  # the first bound at or above it, as observe
    total.inc(sum(seen))
    for i, n in enumerate(gained):
        if n:
            buckets[i].inc(n)


class ExchangeMetrics:
    """Counts what the message bus handled and the events it published."""

    def install(self, bus: MessageBus) -> None:
        figures()
        bus.observe(self)
        for event in (AuctionClosed, AuctionCancelled, ChargeAttempted):
            bus.subscribe(event, self.published)

    def handled(self, message: object, result: object, error: BaseException | None) -> None:
        if isinstance(message, PlaceBid):
            if error is None:
                count(figures().bids_accepted)
            else:
                count(figures().bids_refused.labels(_reason(error)))
        elif isinstance(message, ReportUsage | RecordDelivery):
            source = "member" if isinstance(message, ReportUsage) else "plane"
            outcome = _reason(error) if error is not None else _usage_outcome(result)
            _usage_reports(source, outcome).inc()

    def published(self, events: Sequence[Event]) -> None:
        f = figures()
        for e in events:
            if isinstance(e, AuctionClosed):
                f.auctions_closed.inc()
            elif isinstance(e, AuctionCancelled):
                f.auctions_cancelled.inc()
            elif isinstance(e, ChargeAttempted):
                f.charge_attempts.labels(e.outcome).inc()


def scheduler_closed(closes_at: datetime, closed_at: datetime) -> None:
    """The scheduler closed an auction due at ``closes_at``."""
    figures().scheduler_lag.observe(max(0.0, (closed_at - closes_at).total_seconds()))


def scheduler_ran(at: datetime) -> None:
    figures().scheduler_last_run.set(at.timestamp())


def sse_clients(change: int) -> None:
    """A live page connected (+1) or went away (-1)."""
    figures().sse_clients.inc(change)


@functools.cache
def _usage_reports(source: str, outcome: str) -> Counter:
    """The usage reports' counter of one source and outcome, looked up once per process (a
    lookup by labels costs more than counting); outcomes are the exchange's few error codes."""
    return figures().usage_reports.labels(source, outcome)


def _reason(error: BaseException) -> str:
    return error.code if isinstance(error, CommexError) else "error"


def _usage_outcome(result: object) -> str:
    metered = getattr(result, "metered", None)
    return "cut" if metered is not None and metered.cut else "accepted"


def prepare_multiprocess() -> Path | None:
    """Give this server's processes a fresh, private directory to share their figures in, and
    write this process's there too; call it before any figure is made. Returns the directory to
    remove at exit, or None when the operator named one (``PROMETHEUS_MULTIPROC_DIR``, which
    the operator then empties between runs)."""
    if figures.cache_info().currsize:
        raise RuntimeError("prepare_multiprocess must come before the first figure is made")
    made = None
    if not os.environ.get(MULTIPROC_ENV):
        made = Path(tempfile.mkdtemp(prefix="commex-metrics-"))  # mode 700
        os.environ[MULTIPROC_ENV] = str(made)  # server processes started later inherit it
    # prometheus_client chose where values live when it was imported: choose again now.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return made


def remove_multiprocess_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
