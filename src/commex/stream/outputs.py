"""Where processed packets go when the output is not a live relay: a capture, or UDP sent
from a capture.

Both take the bundles of one input chunk, put them back in input order and write them as the
chunk completes, so a long capture is written as it is read. Each packet departs at its own
time, or later when a maximum rate shapes the output (T4); a capture records the departures, a
UDP output is paced to them in real time. :class:`RateMeter` measures the rate achieved over
the departures as they go.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from commex.stream.aggregation import in_order
from commex.stream.outstats import OutStats
from commex.stream.packets import PacketBatch
from commex.stream.pcap import PcapWriter
from commex.stream.rtp import rtp_sizes
from commex.stream.shaping import Schedule, Shaper, retimed
from commex.stream.udp import UdpSink


class RateMeter:
    """The achieved rate of everything scheduled so far (see
    :func:`commex.stream.shaping.achieved_rate_bps`), kept in four numbers."""

    def __init__(self) -> None:
        self._first: float | None = None
        self._last = 0.0
        self._bits = 0
        self._last_bits = 0
        self._packets = 0

    def add(self, schedule: Schedule) -> None:
        n = int(schedule.sizes.shape[0])
        if not n:
            return
        if self._first is None:
            self._first = float(schedule.offset_us[0])
        self._last = float(schedule.offset_us[-1])
        self._bits += int(schedule.sizes.sum()) * 8
        self._last_bits = int(schedule.sizes[-1]) * 8
        self._packets += n

    def rate_bps(self) -> int:
        if self._first is None or self._packets < 2 or self._last <= self._first:
            return 0
        return round((self._bits - self._last_bits) * 1e6 / (self._last - self._first))


class ChunkOutput:
    """Collects the bundles of one chunk and hands them on in input order once it is done;
    bundles of live input (chunk -1) go on at once."""

    def __init__(self, shaper: Shaper, stats: OutStats) -> None:
        self.shaper = shaper
        self.stats = stats
        self.rate = RateMeter()
        self._chunk = -1
        self._parts: list[PacketBatch] = []

    def put(self, batch: PacketBatch, chunk: int) -> None:
        if chunk != self._chunk:
            self._release()
            self._chunk = chunk
        self._parts.append(batch)
        if chunk < 0:
            self._release()

    def _release(self) -> None:
        parts, self._parts = self._parts, []
        # The shaper, the meter and the figures carry their state from one batch to the
        # next, so the parts in turn come out as the chunk in one piece would.
        for batch in in_order(parts):
            schedule = self.shaper.schedule(batch.arrival_us, rtp_sizes(batch))
            self.rate.add(schedule)
            self.stats.add(batch)
            self.emit(batch, schedule)

    def emit(self, batch: PacketBatch, schedule: Schedule) -> None:
        raise NotImplementedError

    def due(self, now: float) -> float:
        """Send what is due; when the next packet is due (inf when none waits)."""
        return math.inf

    def finish(self) -> None:
        self._release()

    def close(self) -> None:
        return None


class CaptureOutput(ChunkOutput):
    """A pcap file; a shaped packet is recorded at its departure. It is written beside its
    name and takes the name only once the run is through, so a run that fails leaves no
    half capture that looks whole."""

    def __init__(self, path: str, shaper: Shaper, stats: OutStats) -> None:
        super().__init__(shaper, stats)
        self._path = Path(path)
        self._partial = self._path.with_name(f".{self._path.name}.partial")
        self._writer = PcapWriter(self._partial)
        self._complete = False

    def emit(self, batch: PacketBatch, schedule: Schedule) -> None:
        self._writer.write(retimed(batch, schedule))

    def finish(self) -> None:
        super().finish()
        self._complete = True

    def close(self) -> None:
        self._writer.close()
        if self._complete:
            self._partial.replace(self._path)
        else:
            self._partial.unlink(missing_ok=True)


class PacedUdpOutput(ChunkOutput):
    """UDP to one address: unshaped packets go at once, shaped ones on their departures
    (relative to the first), in real time."""

    def __init__(
        self,
        sink: UdpSink,
        shaper: Shaper,
        stats: OutStats,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(shaper, stats)
        self._sink = sink
        self._clock, self._sleep = clock, sleep
        self._start: float | None = None
        self._queue: list[tuple[PacketBatch, np.ndarray]] = []

    def emit(self, batch: PacketBatch, schedule: Schedule) -> None:
        if schedule.rate_bps is None:
            self._sink.send(batch)
            return
        if self._start is None:
            self._start = self._clock() - float(schedule.offset_us[0]) / 1e6
        self._queue.append((batch, schedule.offset_us / 1e6))
        self.due(self._clock())

    def due(self, now: float) -> float:
        while self._queue and self._start is not None:
            batch, due_s = self._queue[0]
            upto = int(np.searchsorted(due_s, now - self._start, side="right"))
            if upto:
                self._sink.send(batch.take(np.arange(upto)))
            if upto < len(batch):
                self._queue[0] = (batch.take(np.arange(upto, len(batch))), due_s[upto:])
                return self._start + float(due_s[upto])
            self._queue.pop(0)
        return math.inf

    def finish(self) -> None:
        super().finish()
        while True:
            next_due = self.due(self._clock())
            if next_due == math.inf:
                return
            self._sleep(max(0.0, next_due - self._clock()))

    def close(self) -> None:
        self._sink.close()
