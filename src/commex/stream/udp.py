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

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch, concat
from commex.stream.rtp import batch_from_datagrams, datagrams
from commex.stream.streamtable import StreamTable

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
        batch, skipped = batch_from_datagrams(
            [d for d, _, _, _ in pending],
            [(host, port) for _, host, port, _ in pending],
            self._address,
            arrival_us=[t for _, _, _, t in pending],
            first_index=self.received - len(pending),
            table=self._table,
        )
        self.skipped += skipped
        self.packets += len(batch)
        return batch

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
