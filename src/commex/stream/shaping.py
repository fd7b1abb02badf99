"""T4: shape an output stream to a maximum rate, and measure the rate it achieved.

Sizes are RTP packet bytes, header and payload (what :func:`~commex.stream.rtp.rtp_sizes`
counts), never the UDP, IP or link framing around them. A packet is *ready* at its own time
(``arrival_us``; never before a packet ahead of it, the output keeps its order) and *departs*
at the later of that time and the moment a token bucket of ``rate_bps`` lets it go.

The bucket holds ``max(burst, the packet's size)`` bits, so by default (no burst) it holds
exactly the packet about to leave: a packet departs once every earlier packet has had its
transmission time at the rate, like a link of that speed. Unrolled, the departure of packet
``i`` is the min-plus convolution ``d_i = max_k<=i (a_k + max(0, (C_i+1 - C_k - B_i) / r))``,
with ``C`` the bits sent before each packet: two running maxima (``np.maximum.accumulate``)
of ``a`` and ``a - C / r``, no Python loop per packet. :class:`Shaper` carries the running
maxima from chunk to chunk, so a live stream is shaped as it goes, with the same result as in
one piece. Over any window ``[d_k, d_i]`` the bits of packets ``k..i`` stay within
``max(burst, largest packet) + r * (d_i - d_k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch
from commex.stream.rtp import rtp_sizes
from commex.stream.types import I64

F64 = npt.NDArray[np.float64]


def achieved_rate_bps(departure_us: F64 | I64, sizes: I64) -> float:
    """The rate of packets of ``sizes`` bytes departing at ``departure_us``, in bit/s.

    It is the bits sent over the span from the first to the last departure plus the last
    packet's transmission time at that same rate, which is ``(bits - last packet's bits) /
    span``: a stream that keeps a rate-``r`` bucket busy measures exactly ``r``, shaped or
    not. With fewer than two packets, or all at one instant, there is no span and it is 0.
    """
    n = int(sizes.shape[0])
    if n < 2:
        return 0.0
    span_us = float(departure_us[-1]) - float(departure_us[0])
    if span_us <= 0:
        return 0.0
    bits = float(sizes.sum() - sizes[-1]) * 8.0
    return bits * 1e6 / span_us


@dataclass(frozen=True)
class Schedule:
    """When each packet of a batch departs: ``origin_us + offset_us`` (microseconds)."""

    origin_us: int
    offset_us: F64
    sizes: I64
    rate_bps: int | None = None

    def departure_us(self) -> I64:
        """Departures as whole microseconds (a pcap's resolution), never before the exact
        time, so the written stream never goes faster than the rate."""
        whole = np.ceil(np.round(self.offset_us, 3))  # drop float noise below a nanosecond
        return self.origin_us + whole.astype(np.int64)

    def achieved_rate_bps(self) -> int:
        """See :func:`achieved_rate_bps`; rounded to whole bit/s."""
        return round(achieved_rate_bps(self.offset_us, self.sizes))


class Shaper:
    """A token bucket of ``rate_bps`` bits per second, fed batch after batch in output order.

    ``burst_bytes`` is the bucket's depth, how much may leave at once; a packet bigger than it
    still leaves alone, so without one (the default) packets leave one at a time. Feeding a
    stream in chunks gives the same departures as feeding it whole.
    """

    def __init__(self, rate_bps: int | None, burst_bytes: int | None = None) -> None:
        if rate_bps is not None and rate_bps <= 0:
            raise InvalidInput(
                f"the shaping rate must be a positive number of bit/s, not {rate_bps}",
                field="max_rate",
            )
        if burst_bytes is not None and burst_bytes < 0:
            raise InvalidInput(
                f"the burst must be zero or more bytes, not {burst_bytes}", field="burst"
            )
        self.rate_bps = rate_bps
        self.burst_bits = 8.0 * (burst_bytes or 0)
        self._origin: int | None = None
        self._ready = -math.inf  # running max of the ready times so far (µs after origin)
        self._credit = -math.inf  # running max of a_k - C_k / r so far
        self._bits = 0.0  # bits of every packet fed so far

    def schedule(self, ready_us: I64, sizes: I64) -> Schedule:
        """The departures of the next packets, ready at ``ready_us`` with ``sizes`` bytes."""
        n = int(sizes.shape[0])
        if self._origin is None and n:
            self._origin = int(ready_us[0])
        origin = self._origin or 0
        if not n:
            return Schedule(origin, np.zeros(0), sizes, self.rate_bps)
        a = (ready_us.astype(np.int64) - origin).astype(np.float64)
        ready = np.maximum.accumulate(np.maximum(a, self._ready))
        self._ready = float(ready[-1])
        if self.rate_bps is None:
            return Schedule(origin, ready, sizes, None)
        us_per_bit = 1e6 / self.rate_bps
        bits = sizes.astype(np.float64) * 8.0
        after = self._bits + np.cumsum(bits)  # C_{i+1}: bits up to and including packet i
        before = after - bits  # C_i
        credit = np.maximum.accumulate(np.maximum(a - before * us_per_bit, self._credit))
        self._credit, self._bits = float(credit[-1]), float(after[-1])
        depth = np.maximum(bits, self.burst_bits)
        departs = np.maximum(ready, credit + (after - depth) * us_per_bit)
        return Schedule(origin, departs, sizes, self.rate_bps)


def shape(
    batch: PacketBatch, rate_bps: int | None = None, *, burst_bytes: int | None = None
) -> Schedule:
    """The departure schedule of ``batch`` (in row order) through a ``rate_bps`` bucket; with
    no rate every packet departs at its own time."""
    return Shaper(rate_bps, burst_bytes).schedule(batch.arrival_us, rtp_sizes(batch))


def retimed(batch: PacketBatch, schedule: Schedule) -> PacketBatch:
    """``batch`` with every packet's time set to its departure: what a capture records."""
    if schedule.rate_bps is None:
        return batch
    return replace(batch, arrival_us=schedule.departure_us())
