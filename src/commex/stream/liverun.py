"""The live runtime: a UDP relay that processes calls while they come in (S8).

One thread reads every datagram waiting on the input socket in a burst, counts it into its
stream, and hands it to the live segmenter. Whatever segments are complete go to the stages as
one bundle; what comes back is renumbered and queued to leave at its arrival plus the
playout delay. The thread then sleeps until the next thing to do: a datagram, a result, a
departure, a segment that must close, a stream that went quiet. A stream ends when it is quiet
for ``stream_timeout_s`` or its sender says BYE, and is reported at once while the others go
on. The run ends when it is stopped (what is in flight is still processed and sent) or
``idle_timeout_s`` after the last packet; it never gives up before the first one.

The playout delay is the segment's hold (a segment may wait that long for its last packet)
plus a margin for processing and for the scheduler of a busy machine, chosen per executor
from measurements (``python -m bench live``; see the README) unless the plan sets it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import selectors
import socket
import time

import numpy as np

from commex.stream.control import Control, NoControl
from commex.stream.dispersal import Waker
from commex.stream.endpoints import Endpoint
from commex.stream.flow import Bundle
from commex.stream.ingest import UdpIngest, udp_socket
from commex.stream.liveseg import LiveSegmenter, hold_ms
from commex.stream.outputs import ChunkOutput
from commex.stream.packets import PacketBatch
from commex.stream.pipeline import Plan
from commex.stream.playout import Playout, UdpSender
from commex.stream.report import RunReport
from commex.stream.rtcpcontrol import RtcpControl
from commex.stream.runtime import Context, file_output
from commex.stream.segmenting import SegmentPolicy
from commex.stream.shaping import Shaper

MARGIN_MS = {"inline": 15.0, "process": 20.0, "node": 25.0, "dask": 80.0}
_MAX_SLEEP_S = 0.05  # how often a sleeping run looks at its stop flag
# One pass handles whatever arrived and whatever is due; passes are at least this far apart,
# so that under load each pass handles many packets at once (its fixed cost is ~1 ms).
TURN_S = 0.004
_BUSY_SLEEP_S = 0.005  # how often a run with work out looks for late tasks
_DRAIN_S = 30.0  # the most a stopping run waits for work in flight
_PROGRESS_S = 0.25
_BYE_GRACE_S = 0.5


def playout_delay_ms(ctx: Context) -> float:
    """The plan's playout delay, or the segment's hold plus the executor's margin."""
    plan = ctx.plan
    if plan.playout_delay_ms is not None:
        return plan.playout_delay_ms
    margin = MARGIN_MS.get(plan.executor.kind, 25.0)
    if any(not p.local for p in plan.phases()):
        margin = max(margin, MARGIN_MS["node"])
    return hold_ms(SegmentPolicy.parse(plan.segment)) + margin


class LiveRun:
    """One live run (see the module notes)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        plan, services = ctx.plan, ctx.services
        self.clock = services.clock
        self.offset = services.wall() - services.clock()
        self.ingest = UdpIngest(
            plan.input.host, plan.input.port, offset=self.offset, admit=services.admit
        )
        self.rtcp_in = self._rtcp_socket() if plan.rtcp == "pair" else None
        self.segmenter = LiveSegmenter(SegmentPolicy.parse(plan.segment))
        self.delay_ms = playout_delay_ms(ctx)
        self.control = services.control or _control(plan)
        self.sender: UdpSender | None = None
        self.playout: Playout | None = None
        self.output: ChunkOutput | None = None
        if plan.output.kind == "udp":
            self.sender = UdpSender(plan.output.host, plan.output.port, rtcp=plan.rtcp)
            shaper = Shaper(plan.max_rate_bps, plan.burst_bytes)
            self.playout = Playout(self.sender, delay_us=int(self.delay_ms * 1000),
                                   shaper=shaper, stats=ctx.tally.outstats)  # fmt: skip
        else:
            self.output = file_output(ctx)
        self.waker = Waker()
        self.numbers = itertools.count()
        self.last_packet: float | None = None
        self.next_due = math.inf
        self.ending: dict[int, float] = {}
        self.next_rtcp = self.clock() + self.control.interval_s
        self.next_progress = 0.0

    def _rtcp_socket(self) -> socket.socket | None:
        host, port = self.ingest.address
        if port >= 65535:
            return None
        try:
            return udp_socket(host, port + 1, field="input")
        except Exception:  # the port above is taken: RTCP is then heard on the RTP port only
            return None

    def now_us(self, now: float) -> int:
        return int((now + self.offset) * 1e6)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> RunReport:
        selector = self._selector()
        services = self.ctx.services
        # A full collection of everything imported so far takes 50 ms or more: long enough to
        # make a whole pass late. What exists now lives as long as the run, so it is left out
        # of collections from here on (garbage is still freed as its references go).
        gc.collect()
        gc.freeze()
        try:
            if services.on_ready is not None:
                host, port = self.ingest.address
                services.on_ready(Endpoint("udp", host=host, port=port))
            last = -math.inf
            while not self._over(self.clock()):
                rest = last + TURN_S - self.clock()
                if rest > 0:
                    time.sleep(rest)
                for key, _ in selector.select(self._timeout(self.clock())):
                    self._read(key.data)
                last = self.clock()
                self._turn(last)
            self._drain()
        finally:
            selector.close()
            self._close()
        reason = "stopped" if services.stop.is_set() else "end"
        for sid in self.ingest.registry.streams():
            self._finish(sid, reason)
        meter = self.playout.rate if self.playout is not None else None
        if self.output is not None:
            meter = self.output.rate
        rate = 0 if meter is None else meter.rate_bps()
        return self.ctx.report(rate, self.delay_ms if self.playout is not None else None)

    def _selector(self) -> selectors.BaseSelector:
        selector = selectors.DefaultSelector()
        selector.register(self.ingest.sock, selectors.EVENT_READ, "rtp")
        selector.register(self.waker, selectors.EVENT_READ, "wake")
        if self.rtcp_in is not None:
            selector.register(self.rtcp_in, selectors.EVENT_READ, "rtcp-in")
        if self.sender is not None:
            selector.register(self.sender.sock, selectors.EVENT_READ, "rtcp-out")
            if self.sender.rtcp_sock is not None:
                selector.register(self.sender.rtcp_sock, selectors.EVENT_READ, "rtcp-out2")
        self.ctx.flow.listen(self.waker.notify)
        return selector

    def _over(self, now: float) -> bool:
        if self.ctx.services.stop.is_set():
            return True
        idle = self.ctx.plan.idle_timeout_s
        return idle is not None and self.last_packet is not None and now - self.last_packet >= idle

    def _timeout(self, now: float) -> float:
        plan = self.ctx.plan
        soon = [now + _MAX_SLEEP_S, self.next_rtcp]
        if self.ctx.flow.busy():
            soon.append(now + _BUSY_SLEEP_S)
        for wall_us in (self.segmenter.next_deadline_us(), self.next_due):
            if wall_us < math.inf:
                soon.append(wall_us / 1e6 - self.offset)
        registry = self.ingest.registry
        if registry.active.any():
            soon.append(float(registry.last_seen[registry.active].min()) + plan.stream_timeout_s)
        soon.extend(self.ending.values())
        if plan.idle_timeout_s is not None and self.last_packet is not None:
            soon.append(self.last_packet + plan.idle_timeout_s)
        return max(0.0, min(soon) - now)

    def _read(self, kind: str) -> None:
        if kind == "wake":
            self.waker.clear()
        elif kind == "rtp":
            now = self.clock()
            burst = self.ingest.drain(now)
            self.ctx.tally.skipped += burst.skipped
            self.ctx.tally.refused += burst.refused
            if burst.rtcp:
                self._heard(burst.rtcp, "input")
            if len(burst.batch):
                self._accept(burst.batch, now)
        else:
            sock = {"rtcp-in": self.rtcp_in, "rtcp-out": self.sender and self.sender.sock,
                    "rtcp-out2": self.sender and self.sender.rtcp_sock}[kind]  # fmt: skip
            if isinstance(sock, socket.socket):
                self._heard(_datagrams(sock), "input" if kind == "rtcp-in" else "output")

    def _accept(self, batch: PacketBatch, now: float) -> None:
        tally = self.ctx.tally
        tally.packets_in += len(batch)
        batch = tally.instats.add(batch, live=True)
        self.segmenter.add(batch)
        self.last_packet = now

    def _heard(self, datagrams: list[bytes], side: str) -> None:
        now = self.clock()
        for ssrc in self.control.heard(datagrams, now + self.offset, side=side):
            for sid in self.ingest.registry.with_ssrc(ssrc):
                self.ending.setdefault(sid, now + self.delay_ms / 1000 + _BYE_GRACE_S)

    def _turn(self, now: float) -> None:
        now_us = self.now_us(now)
        self._segments(now_us)
        flow = self.ctx.flow
        flow.flush()
        for bundle in flow.pump():
            self._deliver(bundle, now_us)
        flow.tick(now)
        self._due(now_us)
        self._streams(now)
        self._rtcp(now)
        self._progress(now)

    def _segments(self, now_us: int, *, everything: bool = False) -> None:
        registry = self.ingest.registry
        ending = None
        if self.ending:
            ending = np.zeros(len(registry.keys), dtype=np.bool_)
            ending[list(self.ending)] = True
        closed = self.segmenter.close(now_us, ending=ending, everything=everything)
        if closed is None:
            return
        batch, segments = closed
        self.ctx.tally.segments += segments
        first = float(batch.arrival_us.min()) / 1e6 - self.offset
        deadline = first + self.delay_ms / 1000
        self.ctx.flow.push(Bundle.of(next(self.numbers), batch, segments, deadline=deadline))

    def _deliver(self, bundle: Bundle, now_us: int) -> None:
        ctx = self.ctx
        batch = ctx.aggregator.take(bundle.batch, bundle.sent_index, bundle.sent_stream,
                                    bundle.dtmf)  # fmt: skip
        if self.playout is not None:
            self.playout.put(batch, now_us)
        elif self.output is not None:
            self.output.put(batch, -1)
        if ctx.services.on_result is not None and len(batch):
            ctx.services.on_result(batch)

    def _due(self, now_us: int) -> None:
        if self.playout is not None:
            self.next_due = self.playout.due(now_us)

    def _streams(self, now: float) -> None:
        registry = self.ingest.registry
        if not registry.active.any() and not self.ending:
            return
        quiet = registry.active & (registry.last_seen < now - self.ctx.plan.stream_timeout_s)
        for sid in np.flatnonzero(quiet).tolist():
            self._finish(sid, "quiet")
        for sid, when in list(self.ending.items()):
            if when <= now:
                self._finish(sid, "bye")

    def _finish(self, sid: int, reason: str) -> None:
        ctx = self.ctx
        self.ending.pop(sid, None)
        key = self.ingest.registry.keys[sid]
        report = ctx.tally.finish(sid, key, reason, self.control.receiver(key.ssrc))
        ctx.aggregator.forget(sid)
        if self.playout is not None:
            self.playout.forget(sid)
        self.ingest.registry.release(sid)
        if self.sender is not None:
            self.sender.send_rtcp(self.control.ended(key.ssrc, self.clock() + self.offset))
        if ctx.services.on_stream is not None:
            ctx.services.on_stream(report)

    def _rtcp(self, now: float) -> None:
        if now < self.next_rtcp or self.playout is None or self.sender is None:
            return
        self.next_rtcp = now + self.control.interval_s
        registry = self.ingest.registry
        ssrcs = {sid: registry.keys[sid].ssrc for sid in registry.streams()}
        senders = self.playout.senders(ssrcs)
        self.sender.send_rtcp(self.control.reports(senders, now + self.offset))
        told = self.ctx.services.on_receivers
        if told is not None:
            heard = {s: f for s in ssrcs.values() if (f := self.control.receiver(s)) is not None}
            if heard:
                told(heard)

    def _progress(self, now: float, *, force: bool = False) -> None:
        if now < self.next_progress and not force:
            return
        self.next_progress = now + _PROGRESS_S
        t = self.ctx.tally
        late = t.outstats.late_total
        streams = len(self.ingest.registry.streams())
        self.ctx.progress(t.outstats.packets_total, streams, late)

    # --- the end -----------------------------------------------------------------------------

    def _drain(self) -> None:
        """Process and send what is in flight (what waits on the socket too), each packet
        still at its own time."""
        self._read("rtp")
        start = self.clock()
        self._segments(self.now_us(start), everything=True)
        flow = self.ctx.flow
        flow.end()
        while self.clock() - start < _DRAIN_S:
            now = self.clock()
            for bundle in flow.pump():
                self._deliver(bundle, self.now_us(now))
            flow.tick(now)
            self._due(self.now_us(now))
            waiting = self.playout.waiting() if self.playout is not None else 0
            if not flow.busy() and not waiting:
                break
            until = self.next_due / 1e6 - self.offset if waiting else now + _BUSY_SLEEP_S
            self.waker.wait(min(max(0.0, until - now), _BUSY_SLEEP_S * 10))
        if self.output is not None:
            self.output.finish()
        self._progress(self.clock(), force=True)

    def _close(self) -> None:
        self.ctx.flow.listen(lambda: None)
        self.waker.close()
        self.ingest.close()
        if self.rtcp_in is not None:
            self.rtcp_in.close()
        if self.sender is not None:
            self.sender.close()
        if self.output is not None:
            self.output.close()


def _control(plan: Plan) -> Control:
    """RTCP sessions for a relay whose output is UDP, unless RTCP is off."""
    if plan.rtcp == "off" or plan.output.kind != "udp":
        return NoControl()
    return RtcpControl()


def _datagrams(sock: socket.socket) -> list[bytes]:
    out = []
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while True:
            out.append(sock.recv(65535))
    return out


def run_live(ctx: Context) -> RunReport:
    """Relay the live input of ``ctx``'s plan until it is stopped or goes idle."""
    return LiveRun(ctx).run()
