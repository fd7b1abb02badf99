"""RTP sent over UDP from a capture: batches out as datagrams to one address.

Live input is read by :mod:`commex.stream.ingest`, and a live relay's output is sent by
:class:`commex.stream.playout.UdpSender`; this sink is the plain one a capture's run uses.
"""

from __future__ import annotations

import socket
from types import TracebackType

from commex.stream.ingest import enlarge, family_of
from commex.stream.packets import PacketBatch
from commex.stream.rtp import serialize


class UdpSink:
    """Sends batches to ``host:port`` as RTP datagrams, one per packet, in row order."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        enlarge(self._sock)
        self.sent = 0

    def send(self, batch: PacketBatch) -> int:
        """Send every packet of ``batch``; returns how many were sent."""
        data, offsets = serialize(batch)
        view = data.data
        bounds = offsets.tolist()
        for k in range(len(batch)):
            self._sock.sendto(view[bounds[k] : bounds[k + 1]], self.target)
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
