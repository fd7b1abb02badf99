"""The writer process's side of the bid writer: :class:`WriterServer` serves a bid desk (anything
with the desk's ``submit_on_loop``) on a Unix socket to the HTTP workers of its own server.

The socket is made mode 600 inside a directory only its owner may enter, and a connection
whose first frame is not the hello with this start's secret is closed unheard. Each bid is
queued on the desk with the request id it came with; its answer goes back as soon as its
group commit is done, the answers of one batch in one write per connection.

On :meth:`WriterServer.stop` (SIGTERM) the writer listens no more, reads no more bids, answers
every bid it has already queued, and only then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

from commex.adapters.bidwriter import frames as f
from commex.adapters.sql.files import FILE_MODE
from commex.domain.errors import CommexError
from commex.services.commands import PlaceBid
from commex.services.request_context import REQUEST_ID
from commex.services.results import PlacedBid

log = logging.getLogger("commex.bidwriter")


class LoopDesk(Protocol):
    def submit_on_loop(self, cmd: PlaceBid) -> asyncio.Future[PlacedBid]: ...


class WriterServer:
    """Serves ``desk`` at ``path`` to peers that know ``secret``; each placed bid goes back
    with its HTTP answer's body, made by ``encode``."""

    def __init__(
        self, desk: LoopDesk, path: Path, secret: bytes, encode: Callable[[PlacedBid], bytes]
    ) -> None:
        self._desk = desk
        self._encode = encode  # a placed bid's HTTP answer body, sent with it
        self.path = path
        self._secret = secret
        self._server: asyncio.AbstractServer | None = None
        self._peers: set[_Peer] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a writer that was killed
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Peer(self), str(self.path))
        os.chmod(self.path, FILE_MODE)

    async def stop(self, within: float = 30.0) -> None:
        """Listen no more, read no more, answer what is queued (for at most ``within`` s)."""
        if self._server is not None:
            self._server.close()
        for peer in self._peers:
            peer.stop_reading()
        waiting = [fut for peer in self._peers for fut in peer.waiting]
        if waiting:
            await asyncio.wait(waiting, timeout=within)
        await asyncio.sleep(0)  # the answers' callbacks and writes run
        for peer in list(self._peers):
            peer.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _admit(self, secret: bytes) -> bool:
        return hmac.compare_digest(secret, self._secret)

    def _queue(self, cmd: PlaceBid, request_id: str | None) -> asyncio.Future[PlacedBid]:
        token = REQUEST_ID.set(request_id)  # the desk's pending bid takes the caller's id
        try:
            return self._desk.submit_on_loop(cmd)
        finally:
            REQUEST_ID.reset(token)


class _Peer(asyncio.Protocol):
    """One HTTP worker's connection."""

    def __init__(self, server: WriterServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._admitted = False
        self._out: list[bytes] = []
        self._flushing = False
        self.waiting: set[asyncio.Future[PlacedBid]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._server._peers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._peers.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for kind, number, payload in f.frames(self._buffer):
                self._received(kind, number, payload)
        except f.FrameError as exc:
            log.warning("bid writer: a peer sent what is not a frame (%s); closed", exc)
            self.close()

    def _received(self, kind: int, number: int, payload: bytes) -> None:
        if not self._admitted:
            if kind != f.HELLO or not self._server._admit(payload):
                raise f.FrameError("no hello with this server's secret")
            self._admitted = True
            return
        if kind != f.BID:
            raise f.FrameError(f"a frame of kind {kind}")
        cmd, request_id = f.read_bid(payload)
        future = self._server._queue(cmd, request_id)
        self.waiting.add(future)
        future.add_done_callback(_answering(self, number))

    def answer(self, future: asyncio.Future[PlacedBid], frame: bytes) -> None:
        self.waiting.discard(future)
        if self._transport is None:
            return
        self._out.append(frame)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)  # the rest of the batch joins

    def _flush(self) -> None:
        self._flushing = False
        if self._transport is not None and self._out:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def stop_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def close(self) -> None:
        if self._transport is not None:
            self._flush()
            self._transport.close()


def _answering(peer: _Peer, number: int) -> Callable[[asyncio.Future[PlacedBid]], None]:
    def answered(future: asyncio.Future[PlacedBid]) -> None:
        if future.cancelled():
            frame = f.failed_frame(number, "cancelled")
        elif (error := future.exception()) is None:
            placed = future.result()
            frame = f.placed_frame(number, placed, peer._server._encode(placed))
        elif isinstance(error, CommexError):
            frame = f.refused_frame(number, error)
        else:
            log.error("bid writer: a bid failed", exc_info=error)
            frame = f.failed_frame(number, error.__class__.__name__)
        peer.answer(future, frame)

    return answered
