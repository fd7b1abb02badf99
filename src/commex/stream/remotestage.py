"""A step this provider does not offer, done by another provider as bundles come (S5).

The stage gathers the bundles handed to it and takes, across their segments and streams, the
packets that need the step; those go to a provider in requests of at most ``group_packets``
packets, on threads of their own, while the run goes on. The answers are checked, put back
into the bundles they came from, and the bundles leave in order. A capture's bundles are
gathered until a request is full; a live run's go out at every tick. A request that misses
its bundles' deadline is sent to the next provider as well (the first right answer wins) and
later requests start with that provider.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from commex.stream.dispersal import Notify
from commex.stream.flow import Bundle, compact, widen
from commex.stream.packets import I64, PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.report import Subcontracted
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
    provider: int
    result: tuple[str, SegmentResult] | None = None
    error: BaseException | None = None
    running: int = 0
    hedged: bool = False


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
    ) -> None:
        self.spec = spec
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
        whole = whole.take(np.argsort(whole.index, kind="stable"))
        need = needs_step(self.spec, whole)
        group = _Group(bundles, whole, need)
        rows = np.flatnonzero(need)
        for start in range(0, rows.shape[0], self._group_packets):
            batch, present = compact(whole.take(rows[start : start + self._group_packets]))
            self._numbers += 1
            request = _Request(SegmentTask(self._numbers, batch, (self.spec,)), present,
                               self._preferred)  # fmt: skip
            group.requests.append(request)
            self._start(request, request.provider)
        self._groups.append(group)

    def _start(self, request: _Request, provider: int) -> None:
        with self._lock:
            request.running += 1
        future = self._threads.submit(
            self._sub.attempt, self.spec, request.task, self._providers, provider
        )
        future.add_done_callback(lambda f: self._answered(request, f))

    def _answered(self, request: _Request, future: Future[tuple[str, SegmentResult]]) -> None:
        with self._lock:
            request.running -= 1
            if request.result is not None or future.cancelled():
                return
            error = future.exception()
            if error is None:
                request.result = future.result()
            elif not request.running:
                request.error = error
        self.notify()

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
        """What went to whom so far."""
        return [
            Subcontracted(str(self.spec), name, requests, packets)
            for name, (requests, packets) in self._usage.items()
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
