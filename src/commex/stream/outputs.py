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
from typing import Any

import numpy as np

from commex.stream.aggregation import merge_order
from commex.stream.outstats import OutStats
from commex.stream.packets import I32, I64, U8, PacketBatch, concat
from commex.stream.pcap import PcapWriter, with_streams
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
        parts = with_streams([b for b in self._parts if len(b)])
        self._parts = []
        order = merge_order(parts) if len(parts) > 1 else None
        if order is None:
            # The shaper, the meter and the figures carry their state from one batch to the
            # next, so the parts in turn come out as the chunk in one piece would.
            for batch in parts:
                schedule = self._count(
                    batch.arrival_us, rtp_sizes(batch), batch.stream, batch.payload_type
                )
                self.emit(batch, schedule)
            return

        # Out of order (each stream's segments came back on their own): the figures and the
        # schedule from the columns in input order, the packets left where they are.
        def column(get: Callable[[PacketBatch], np.ndarray]) -> Any:
            return np.concatenate([get(b) for b in parts])[order]

        schedule = self._count(
            column(lambda b: b.arrival_us), column(rtp_sizes), column(lambda b: b.stream),
            column(lambda b: b.payload_type),
        )  # fmt: skip
        self.emit_merged(parts, order, schedule)

    def _count(self, arrival_us: I64, sizes: I64, stream: I32, payload_type: U8) -> Schedule:
        schedule = self.shaper.schedule(arrival_us, sizes)
        self.rate.add(schedule)
        self.stats.count(stream, arrival_us, payload_type, sizes)
        return schedule

    def emit(self, batch: PacketBatch, schedule: Schedule) -> None:
        raise NotImplementedError

    def emit_merged(self, parts: list[PacketBatch], order: I64, schedule: Schedule) -> None:
        """Send the rows of ``parts`` (end to end) in ``order``, on ``schedule``."""
        self.emit(concat(parts, order), schedule)

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

    def emit_merged(self, parts: list[PacketBatch], order: I64, schedule: Schedule) -> None:
        departures = None if schedule.rate_bps is None else schedule.departure_us()
        self._writer.write_merged(parts, order, departures)

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
