"""Live output: every packet leaves at its arrival time plus a constant playout delay.

Because the delay is the same for every packet, departures follow arrival order, so waiting
packets are kept as a few batches sorted by their playout time (a FIFO per pass of the
runtime, not a heap per packet); what is due is read off their heads. Within a stream the
output keeps sequence order: a packet that arrived out of order, but before the packets after
it left, goes out before them (they wait for it, never the other way round). A maximum rate
shapes what is due through the token bucket (T4). Each packet's added latency (from its
arrival to its departure) and whether its result came back after its playout time (late) are
recorded per stream.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
from dataclasses import dataclass

import numpy as np

from commex.stream.control import SenderState
from commex.stream.grouping import Groups
from commex.stream.ingest import enlarge, family_of
from commex.stream.outputs import RateMeter
from commex.stream.outstats import OutStats
from commex.stream.packets import I64, PacketBatch, concat, rows
from commex.stream.pcap import with_streams
from commex.stream.rtp import HEADER_SIZE, rtp_sizes, serialize
from commex.stream.shaping import Shaper
from commex.stream.types import Bools

SLACK_US = 2000  # packets due this soon leave with those due now (half the runtime's pass)
_NONE = -(1 << 62)
_PAIR_TRIES = 32


class UdpSender:
    """The live output socket, sending to ``host:port``. With ``rtcp="pair"`` it is bound to
    an even port with the port above it bound too, for the receiver's RTCP (RFC 3550), and
    sender reports go to the receiver's port above; with ``mux`` RTCP shares the RTP ports."""

    def __init__(self, host: str, port: int, *, rtcp: str = "pair") -> None:
        family = family_of(host)
        self.target = (host, port)
        self.rtcp_target = (host, port + 1) if rtcp == "pair" else (host, port)
        any_host = "::" if family == socket.AF_INET6 else "0.0.0.0"  # noqa: S104 - replies
        self.sock, self.rtcp_sock = self._bind(family, any_host, pair=rtcp == "pair")
        enlarge(self.sock)
        self.sock.setblocking(False)  # the runtime also reads the receiver's RTCP here

    @staticmethod
    def _bind(
        family: socket.AddressFamily, host: str, *, pair: bool
    ) -> tuple[socket.socket, socket.socket | None]:
        for _ in range(_PAIR_TRIES if pair else 1):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((host, 0))
            if not pair:
                return sock, None
            port = sock.getsockname()[1]
            if port % 2 == 0 and port < 65535:
                other = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    other.bind((host, port + 1))
                    other.setblocking(False)
                    return sock, other
                except OSError:
                    other.close()
            sock.close()
        return socket.socket(family, socket.SOCK_DGRAM), None

    def send(self, batch: PacketBatch) -> None:
        """Every packet of ``batch`` as a datagram, in row order."""
        data, offsets = serialize(batch)
        view = data.data
        bounds = offsets.tolist()
        sendto, target = self.sock.sendto, self.target
        for k in range(len(bounds) - 1):
            try:
                sendto(view[bounds[k] : bounds[k + 1]], target)
            except BlockingIOError:  # the send buffer is full: wait until it drains a little
                select.select([], [self.sock], [], 0.05)
                with contextlib.suppress(BlockingIOError):
                    sendto(view[bounds[k] : bounds[k + 1]], target)

    def send_rtcp(self, datagrams: list[bytes]) -> None:
        """RTCP to the receiver, from the RTCP port (so its reports come back there)."""
        sock = self.rtcp_sock or self.sock
        for datagram in datagrams:
            with contextlib.suppress(OSError):
                sock.sendto(datagram, self.rtcp_target)

    def close(self) -> None:
        self.sock.close()
        if self.rtcp_sock is not None:
            self.rtcp_sock.close()


@dataclass
class _Waiting:
    """Packets waiting to leave, sorted by playout time."""

    batch: PacketBatch
    ready: I64
    late: Bools


class Playout:
    """See the module notes; times are wall-clock microseconds."""

    def __init__(
        self, sender: UdpSender, *, delay_us: int, shaper: Shaper, stats: OutStats
    ) -> None:
        self.sender = sender
        self.delay_us = delay_us
        self.shaper = shaper
        self.stats = stats
        self.rate = RateMeter()
        self._waiting: list[_Waiting] = []
        self._shaped: list[tuple[_Waiting, I64]] = []
        self._hi = np.full(0, _NONE, dtype=np.int64)
        self._last_ts = np.zeros(0, dtype=np.int64)
        self._last_at = np.zeros(0, dtype=np.float64)
        self._octets = np.zeros(0, dtype=np.int64)
        self._packets = np.zeros(0, dtype=np.int64)

    def _grow(self, size: int) -> None:
        if size > self._hi.shape[0]:
            grow = max(size, 2 * self._hi.shape[0], 16) - self._hi.shape[0]
            self._hi = np.concatenate([self._hi, np.full(grow, _NONE, dtype=np.int64)])
            self._last_ts = np.concatenate([self._last_ts, np.zeros(grow, dtype=np.int64)])
            self._last_at = np.concatenate([self._last_at, np.zeros(grow)])
            self._octets = np.concatenate([self._octets, np.zeros(grow, dtype=np.int64)])
            self._packets = np.concatenate([self._packets, np.zeros(grow, dtype=np.int64)])

    def put(self, batch: PacketBatch, now_us: int) -> None:
        """Queue processed packets (in the order the runtime releases them)."""
        if not len(batch):
            return
        self._grow(int(batch.stream.max()) + 1)
        g = Groups.of(batch.stream, batch.index)
        seq = batch.seq[g.order].astype(np.int64)
        known = self._hi[g.stream]
        ref = np.where(known == _NONE, seq[g.first][g.rank] + 65536, known)
        ext_sorted = ref + (seq - ref + 32768) % 65536 - 32768
        in_order = bool(np.all(ext_sorted > g.previous(ext_sorted, self._hi)))
        np.maximum.at(self._hi, g.stream, ext_sorted)
        ext = np.empty_like(ext_sorted)
        ext[g.order] = ext_sorted
        ready = batch.arrival_us + self.delay_us
        if not in_order:
            self._reorder(batch, ext, ready, now_us)
            return
        order = np.argsort(ready, kind="stable")
        self._waiting.append(_Waiting(batch.take(order), ready[order], ready[order] < now_us))

    def _reorder(self, batch: PacketBatch, ext: I64, ready: I64, now_us: int) -> None:
        """Put packets that came out of order back in sequence order among those waiting:
        later packets of a stream wait for an earlier one that arrived after them."""
        parts = [*self._waiting, _Waiting(batch, ready, ready < now_us)]
        self._waiting = []
        whole = concat(with_streams([p.batch for p in parts]))
        late = np.concatenate([p.late for p in parts])
        seq = whole.seq.astype(np.int64)
        hi = self._hi[whole.stream]
        ext_all = hi + (seq - hi + 32768) % 65536 - 32768
        g = Groups.of(whole.stream, ext_all)
        wait = g.running_max(np.concatenate([p.ready for p in parts])[g.order],
                             np.full(self._hi.shape[0], _NONE, dtype=np.int64))  # fmt: skip
        order = np.argsort(wait, kind="stable")
        rows = g.order[order]
        self._waiting = [_Waiting(whole.take(rows), wait[order], late[rows])]

    def due(self, now_us: int) -> float:
        """Send what is due by ``now_us``; when the next packet is due (inf: none waits)."""
        limit = now_us + SLACK_US
        heads = []
        for part in self._waiting:
            k = int(np.searchsorted(part.ready, limit, side="right"))
            if k:
                heads.append(_cut(part, k))
        self._waiting = [p for p in self._waiting if len(p.batch)]
        if heads:
            self._schedule(heads)
        self._send_shaped(limit, now_us)
        nexts = [float(p.ready[0]) for p in self._waiting]
        nexts += [float(d[0]) for _, d in self._shaped[:1]]
        return min(nexts, default=math.inf)

    def _schedule(self, heads: list[_Waiting]) -> None:
        if len(heads) == 1:
            due = heads[0]
        else:
            batch = concat(with_streams([h.batch for h in heads]))
            ready = np.concatenate([h.ready for h in heads])
            order = np.argsort(ready, kind="stable")
            late = np.concatenate([h.late for h in heads])
            due = _Waiting(batch.take(order), ready[order], late[order])
        schedule = self.shaper.schedule(due.ready, rtp_sizes(due.batch))
        self.rate.add(schedule)
        departures = schedule.departure_us()
        self._shaped.append((due, departures))

    def _send_shaped(self, limit: int, now_us: int) -> None:
        while self._shaped:
            part, departures = self._shaped[0]
            k = int(np.searchsorted(departures, limit, side="right"))
            if not k:
                return
            head = _cut(part, k)
            self._send(head, now_us)
            if k == len(departures):
                self._shaped.pop(0)
            else:
                self._shaped[0] = (part, departures[k:])

    def _send(self, part: _Waiting, now_us: int) -> None:
        batch = part.batch
        self.sender.send(batch)
        self.stats.add(batch)
        self.stats.departed(batch.stream.astype(np.int64), now_us - batch.arrival_us, part.late)
        ids = batch.stream.astype(np.int64)
        self._last_ts[ids] = batch.timestamp
        self._last_at[ids] = now_us / 1e6
        size = self._octets.shape[0]
        payload = rtp_sizes(batch) - HEADER_SIZE
        self._octets += np.bincount(ids, weights=payload, minlength=size).astype(np.int64)
        self._packets += np.bincount(ids, minlength=size)

    def waiting(self) -> int:
        return sum(len(p.batch) for p in self._waiting) + sum(len(p.batch) for p, _ in self._shaped)

    def senders(self, ssrcs: dict[int, int]) -> list[SenderState]:
        """What each output stream that sent anything has sent, for its sender report
        (``ssrcs``: stream id -> SSRC of the streams in progress)."""
        return [
            SenderState(
                ssrc,
                int(self._packets[sid]),
                int(self._octets[sid]),
                int(self._last_ts[sid]),
                float(self._last_at[sid]),
            )
            for sid, ssrc in ssrcs.items()
            if sid < self._packets.shape[0] and self._packets[sid]
        ]

    def forget(self, sid: int) -> None:
        if sid < self._hi.shape[0]:
            self._hi[sid] = _NONE
            self._octets[sid] = 0
            self._packets[sid] = 0


def _cut(part: _Waiting, k: int) -> _Waiting:
    """The first ``k`` packets of ``part``; ``part`` keeps the rest."""
    n = len(part.batch)
    if k >= n:
        head = _Waiting(part.batch, part.ready, part.late)
        part.batch, part.ready, part.late = PacketBatch(), part.ready[:0], part.late[:0]
        return head
    head = _Waiting(rows(part.batch, 0, k), part.ready[:k], part.late[:k])
    part.batch, part.ready, part.late = rows(part.batch, k, n), part.ready[k:], part.late[k:]
    return head
