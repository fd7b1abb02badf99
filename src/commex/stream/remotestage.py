"""A step this provider does not offer, done by another provider as bundles come (S5).

The stage gathers the bundles handed to it and takes, across their segments and streams, the
packets that need the step; those go to a provider in requests of at most ``group_packets``
packets, on threads of their own, while the run goes on. The answers are checked, put back
into the bundles they came from, and the bundles leave in order. A capture's bundles are
gathered until a request is full; a live run's go out at every tick. A request that misses
its bundles' deadline is sent to the next provider as well (the first right answer wins) and
later requests start with that provider. So do later requests after a provider failed and the
next one answered instead: a request reads where to start when a thread takes it up, so a dead
or wrong provider costs one failed call per thread, not one per request. An answer (the
winner's or a hedged loser's) that comes after its bundles' deadline is counted as late
against the provider that gave it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from commex.stream.dispersal import Notify
from commex.stream.flow import Bundle, compact, widen
from commex.stream.packets import I64, PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.report import Subcontracted
from commex.stream.segmenting import KINDS
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.subcontracting import (
    DEFAULT_GROUP_PACKETS,
    Provider,
    Subcontractor,
    needs_step,
)
from commex.stream.tasks import SegmentResult, SegmentTask


@dataclass
class _Request:
    task: SegmentTask
    present: I64 | None
    provider: int  # where the request started (the preferred provider when a thread took it)
    result: tuple[str, SegmentResult] | None = None
    error: BaseException | None = None
    running: int = 0
    hedged: bool = False
    deadline: float = math.inf
    kinds: I64 | None = None  # each packet's content class (an index into KINDS), if known


@dataclass
class _Group:
    """Gathered bundles, all their packets, and the requests out for those that need it."""

    bundles: list[Bundle]
    whole: PacketBatch
    need: np.ndarray
    requests: list[_Request] = field(default_factory=list)

    def done(self) -> bool:
        return all(r.result is not None or r.error is not None for r in self.requests)


class RemoteStage:
    """Step ``spec`` done by the providers the subcontractor finds, in their order."""

    def __init__(
        self,
        subcontractor: Subcontractor,
        spec: StepSpec,
        *,
        live: bool,
        group_packets: int = DEFAULT_GROUP_PACKETS,
        threads: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._late: dict[str, int] = {}
        self._classes: dict[str, I64] = {}
        self.live = live
        self._sub = subcontractor
        self._providers: list[Provider] = subcontractor.candidates(spec)
        self._group_packets = max(1, group_packets)
        self._gathered: list[Bundle] = []
        self._gathered_need = 0
        self._groups: deque[_Group] = deque()
        self._preferred = 0
        self._numbers = 0
        self._usage: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="commex-subcontract")
        self.notify: Notify = lambda: None

    def listen(self, notify: Notify) -> None:
        self.notify = notify

    def submit(self, bundle: Bundle) -> None:
        self._gathered.append(bundle)
        self._gathered_need += int(np.count_nonzero(needs_step(self.spec, bundle.batch)))
        if not self.live and self._gathered_need >= self._group_packets:
            self.flush()

    def flush(self) -> None:
        """Send what is gathered now."""
        if not self._gathered:
            return
        bundles, self._gathered, self._gathered_need = self._gathered, [], 0
        whole = concat(with_streams([b.batch for b in bundles]))
        order = np.argsort(whole.index, kind="stable")
        whole = whole.take(order)
        kinds = _kinds(bundles)
        kinds = None if kinds is None else kinds[order]
        need = needs_step(self.spec, whole)
        group = _Group(bundles, whole, need)
        deadline = min(b.deadline for b in bundles)
        rows = np.flatnonzero(need)
        for start in range(0, rows.shape[0], self._group_packets):
            taken = rows[start : start + self._group_packets]
            batch, present = compact(whole.take(taken))
            self._numbers += 1
            request = _Request(SegmentTask(self._numbers, batch, (self.spec,)), present,
                               self._preferred, deadline=deadline,
                               kinds=None if kinds is None else kinds[taken])  # fmt: skip
            group.requests.append(request)
            self._start(request, None)
        self._groups.append(group)

    def _start(self, request: _Request, provider: int | None) -> None:
        """Run ``request`` on a thread, from ``provider`` on, or (None) from whichever
        provider is preferred when the thread takes it up."""
        with self._lock:
            request.running += 1
        future = self._threads.submit(self._attempt, request, provider)
        future.add_done_callback(lambda f: self._answered(request, f))

    def _attempt(self, request: _Request, provider: int | None) -> tuple[str, SegmentResult]:
        if provider is None:
            with self._lock:
                provider = request.provider = self._preferred
        return self._sub.attempt(self.spec, request.task, self._providers, provider)

    def _answered(self, request: _Request, future: Future[tuple[str, SegmentResult]]) -> None:
        late = self.live and not future.cancelled() and self._clock() > request.deadline
        with self._lock:
            request.running -= 1
            answered = not future.cancelled() and future.exception() is None
            if answered and request.kinds is not None:
                name = future.result()[0]
                counts = np.bincount(request.kinds, minlength=len(KINDS))
                self._classes[name] = self._classes.get(name, np.zeros_like(counts)) + counts
            if late and answered:
                name = future.result()[0]
                self._late[name] = self._late.get(name, 0) + len(request.task.batch)
            if request.result is not None or future.cancelled():
                return
            error = future.exception()
            if error is None:
                request.result = future.result()
                self._prefer(request.result[0])
            elif not request.running:
                request.error = error
        self.notify()

    def _prefer(self, name: str) -> None:
        """Later requests start with ``name``, the provider whose answer was taken."""
        for k, provider in enumerate(self._providers):
            if provider.name == name:
                self._preferred = k
                return

    def ready(self) -> list[Bundle]:
        out: list[Bundle] = []
        while self._groups:
            with self._lock:
                if not self._groups[0].done():
                    break
                group = self._groups.popleft()
            out.extend(self._finish(group))
        return out

    def _finish(self, group: _Group) -> list[Bundle]:
        events: list[DtmfEvent] = []
        processed = [group.whole.take(~group.need)]
        for request in group.requests:
            if request.error is not None:
                raise request.error
            assert request.result is not None
            name, result = request.result
            processed.append(widen(result.batch, request.present, group.whole.streams))
            events.extend(result.dtmf)
            usage = self._usage.setdefault(name, [0, 0])
            usage[0] += 1
            usage[1] += len(request.task.batch)
        back = _split_back(group, concat(with_streams(processed)))
        back[0] = replace(back[0], dtmf=back[0].dtmf + tuple(events))
        return back

    def tick(self, now: float) -> None:
        """Send a request that is past its bundles' deadline to the next provider too."""
        if len(self._providers) < 2:
            return
        for group in self._groups:
            deadline = min(b.deadline for b in group.bundles)
            for request in group.requests:
                if deadline < now and not request.hedged and request.result is None:
                    request.hedged = True
                    self._preferred = (request.provider + 1) % len(self._providers)
                    self._start(request, self._preferred)

    def held(self) -> int:
        return len(self._gathered) + sum(len(g.bundles) for g in self._groups)

    def room(self) -> bool:
        return len(self._groups) < 4

    def records(self) -> list[Subcontracted]:
        """What went to whom so far, and how many of the packets each returned came late
        (also from a provider whose late answers lost to another's)."""
        with self._lock:
            names = [*self._usage, *(n for n in self._late if n not in self._usage)]
            usage = {name: self._usage.get(name, [0, 0]) for name in names}
            return [
                Subcontracted(
                    str(self.spec),
                    name,
                    u[0],
                    u[1],
                    self._late.get(name, 0),
                    _by_class(self._classes.get(name)),
                )
                for name, u in usage.items()
            ]

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)


def _split_back(group: _Group, done: PacketBatch) -> list[Bundle]:
    """The processed rows returned to the bundle each came from, in input order."""
    sent = np.concatenate([b.batch.index for b in group.bundles])
    owner = np.repeat(np.arange(len(group.bundles)), [len(b.batch) for b in group.bundles])
    order = np.argsort(sent, kind="stable")
    mine = owner[order[np.searchsorted(sent[order], done.index)]]
    rows = np.lexsort((done.index, mine))
    bounds = np.searchsorted(mine[rows], np.arange(len(group.bundles) + 1))
    return [
        replace(b, batch=done.take(rows[bounds[k] : bounds[k + 1]]))
        for k, b in enumerate(group.bundles)
    ]


def _kinds(bundles: list[Bundle]) -> I64 | None:
    """Each packet's content class, in the order of the bundles' batches (None unless every
    bundle was cut by content)."""
    parts = []
    for b in bundles:
        if not b.kinds or any(k not in KINDS for k, _ in b.kinds):
            return None
        codes = np.repeat([KINDS.index(k) for k, _ in b.kinds], [n for _, n in b.kinds])
        if codes.shape[0] != b.sent_index.shape[0]:
            return None
        order = np.argsort(b.sent_index, kind="stable")
        parts.append(codes[order[np.searchsorted(b.sent_index, b.batch.index, sorter=order)]])
    return np.concatenate(parts).astype(np.int64)


def _by_class(counts: I64 | None) -> dict[str, int]:
    """Packets per content class (every class, so that a class sent nothing shows 0)."""
    if counts is None:
        return {}
    return {kind: int(n) for kind, n in zip(KINDS, counts.tolist(), strict=True)}
