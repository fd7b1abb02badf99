"""Live RTP over UDP: receive datagrams into batches, and send batches out as datagrams.

:class:`UdpSource` binds a socket and turns what arrives into :class:`PacketBatch` objects
until a stop condition holds (no datagram for ``idle_timeout`` seconds, or ``max_packets``
datagrams received). Live input has no look-ahead, so every well-formed RTP datagram counts
(a stream needs one packet, unlike captures); the rest are counted as skipped. ``index`` is
the datagram's arrival order, ``arrival_us`` the receive time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch, concat
from commex.stream.rtp import columns_to_batch, datagrams, decode_columns
from commex.stream.streamtable import StreamTable, address_bytes, key_rows

MAX_DATAGRAM = 65535
_FLUSH_S = 0.05


def _family(host: str) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve UDP host {host!r}: {exc}", field="host") from exc
    return infos[0][0]


class UdpSource:
    """Receives RTP datagrams on ``host:port`` (port 0 picks a free one, see :attr:`address`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        idle_timeout: float | None = 2.0,
        max_packets: int | None = None,
        batch_size: int = 512,
    ) -> None:
        if idle_timeout is None and max_packets is None:
            raise InvalidInput("a UDP source needs idle_timeout or max_packets to stop")
        self.idle_timeout = idle_timeout
        self.max_packets = max_packets
        self.batch_size = max(1, batch_size)
        self._sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise InvalidInput(
                f"cannot listen on udp://{host}:{port}: {exc}", field="input"
            ) from exc
        host_bound, port_bound = self._sock.getsockname()[:2]
        self._address = (str(host_bound), int(port_bound))
        self._table = StreamTable(min_packets=1)
        self._local = address_bytes(self.address[0])
        self._peers: dict[str, tuple[bytes, bool]] = {}
        self.received = 0
        self.skipped = 0
        self.packets = 0

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""
        return self._address

    def batches(self) -> Iterator[PacketBatch]:
        """Yield batches of received RTP packets until the stop condition holds.

        A batch is handed over when it is full or when no datagram came for 50 ms, so live
        counters move; every batch carries the stream table known so far.
        """
        pending: list[tuple[bytes, str, int, int]] = []
        last = time.monotonic()
        while self.max_packets is None or self.received < self.max_packets:
            now = time.monotonic()
            if self.idle_timeout is not None and now - last >= self.idle_timeout:
                break
            wait = _FLUSH_S if pending else (self.idle_timeout or 1.0) - (now - last)
            self._sock.settimeout(max(wait, 0.001))
            try:
                data, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                if pending:
                    yield self._build(pending)
                    pending = []
                continue
            last = time.monotonic()
            pending.append((data, str(peer[0]), int(peer[1]), time.time_ns() // 1000))
            self.received += 1
            if len(pending) >= self.batch_size:
                yield self._build(pending)
                pending = []
        if pending:
            yield self._build(pending)

    def read_all(self) -> PacketBatch:
        """Everything received until the stop condition, as one batch."""
        parts = list(self.batches())
        if not parts:
            return PacketBatch(streams=self._table.streams)
        final = parts[-1].streams
        return concat([replace(p, streams=final) for p in parts])

    def _build(self, pending: list[tuple[bytes, str, int, int]]) -> PacketBatch:
        first_index = self.received - len(pending)
        sizes = np.array([len(d) for d, _, _, _ in pending], dtype=np.int64)
        starts = np.zeros(sizes.shape[0], dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        buf = np.frombuffer(b"".join(d for d, _, _, _ in pending), dtype=np.uint8)
        cols = decode_columns(buf, starts, sizes)
        rows = np.flatnonzero(cols.ok)
        peers = [self._peer(pending[i][1]) for i in rows.tolist()]
        n = rows.shape[0]
        src = np.frombuffer(b"".join(p[0] for p in peers), dtype=np.uint8).reshape(n, 16)
        dst = np.tile(np.frombuffer(self._local[0], dtype=np.uint8), (n, 1))
        keys = key_rows(
            src,
            dst,
            is_v6=np.array([p[1] for p in peers], dtype=np.bool_),
            sport=np.array([pending[i][2] for i in rows.tolist()], dtype=np.int64),
            dport=np.full(n, self.address[1], dtype=np.int64),
            ssrc=cols.ssrc[rows].astype(np.int64),
        )
        self._table.count(keys)
        stream = self._table.assign(keys)
        arrival = np.array([pending[i][3] for i in rows.tolist()], dtype=np.int64)
        self.skipped += len(pending) - n
        self.packets += n
        return columns_to_batch(
            buf,
            starts,
            cols,
            rows,
            index=first_index + rows,
            stream=stream,
            arrival_us=arrival,
            streams=self._table.streams,
        )

    def _peer(self, host: str) -> tuple[bytes, bool]:
        found = self._peers.get(host)
        if found is None:
            found = self._peers[host] = address_bytes(host.split("%", maxsplit=1)[0])
        return found

    def close(self) -> None:
        """Release the socket."""
        self._sock.close()

    def __enter__(self) -> UdpSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class UdpSink:
    """Sends batches to ``host:port`` as RTP datagrams, one per packet, in row order."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        self.sent = 0

    def send(self, batch: PacketBatch) -> int:
        """Send every packet of ``batch``; returns how many were sent."""
        for datagram in datagrams(batch):
            self._sock.sendto(datagram, self.target)
        self.sent += len(batch)
        return len(batch)

    def close(self) -> None:
        """Release the socket."""
        self._sock.close()

    def __enter__(self) -> UdpSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
