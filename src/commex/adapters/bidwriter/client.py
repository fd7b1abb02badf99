"""An HTTP worker's side of the bid writer: :class:`RemoteBidDesk` takes ``PlaceBid`` commands
as the bid desk does (the message bus's flow and its ``submit_on_loop``) and hands them to the
writer process over its Unix socket, many in flight on one connection per event loop, each
answered by its request number once the writer's group commit is done.

When the writer cannot be reached (it is down, restarting, or has not answered within
``answer_within`` seconds), every bid waiting on it and every new one is refused at once with
:class:`WriterUnavailable` (503); the next bid connects again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from commex.adapters.bidwriter import frames as f
from commex.domain.accounts import Role
from commex.domain.errors import CommexError, Unavailable
from commex.services.bus import MessageBus
from commex.services.commands import PlaceBid
from commex.services.request_context import current_request_id
from commex.services.results import BidView, PlacedBid

log = logging.getLogger("commex.bidwriter")


class WriterUnavailable(Unavailable):
    """Raised when the server's bid writer cannot take a bid now (it is down or restarting):
    the bid may be sent again, and with the same Idempotency-Key it is never placed twice."""

    code = "writer_unavailable"

    def __init__(self, why: str = "") -> None:
        detail = f" ({why})" if why else ""
        super().__init__(
            "the server's bid writer is unavailable for a moment; send the bid again (with the "
            f"same Idempotency-Key it is never placed twice){detail}"
        )


class RemoteBidDesk:
    """The bid desk of an HTTP worker whose bids are written by the writer process."""

    def __init__(
        self,
        path: Path,
        secret: bytes,
        answer_within: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._secret = secret
        self._within = answer_within
        self._monotonic = monotonic
        self._links: dict[asyncio.AbstractEventLoop, _Link] = {}
        self._sync = _SyncLink(self)

    def submit_on_loop(self, cmd: PlaceBid) -> asyncio.Future[PlacedBid]:
        """From a running event loop: send the bid; the future is answered once committed."""
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None or link.lost:
            link = self._links[loop] = _Link(self, loop)
        return link.send(cmd, current_request_id())

    def place(self, cmd: PlaceBid, bus: MessageBus | None = None) -> PlacedBid:
        """The message bus's flow (a thread waits): send the bid and wait for its answer."""
        return self._sync.place(cmd)

    def wait_ready(self, within: float) -> None:
        """Return once the writer accepts connections; WriterUnavailable after ``within`` s."""
        deadline = self._monotonic() + within
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1.0)
                    probe.connect(str(self.path))
                return
            except OSError as exc:
                if self._monotonic() > deadline:
                    raise WriterUnavailable(f"no writer at its socket: {exc}") from exc
            time.sleep(0.05)  # a process starting: nothing to wait on but its socket

    def close(self) -> None:
        for link in list(self._links.values()):
            link.close()
        self._links.clear()
        self._sync.close()

    def hello(self) -> bytes:
        return f.frame(f.HELLO, 0, self._secret)


class _Link(asyncio.Protocol):
    """One connection to the writer on one event loop, with the bids awaiting their answers."""

    def __init__(self, desk: RemoteBidDesk, loop: asyncio.AbstractEventLoop) -> None:
        self._desk = desk
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, tuple[asyncio.Future[PlacedBid], float]] = {}
        self._out: list[bytes] = [desk.hello()]
        self._flushing = False
        self._buffer = bytearray()
        self._number = 0
        self.lost = False
        self._opening = loop.create_task(self._open())
        loop.call_later(1.0, self._watch)

    def send(self, cmd: PlaceBid, request_id: str | None) -> asyncio.Future[PlacedBid]:
        future: asyncio.Future[PlacedBid] = self._loop.create_future()
        if self.lost:
            future.set_exception(WriterUnavailable())
            return future
        self._number = (self._number + 1) & 0xFFFFFFFF
        self._pending[self._number] = (future, self._desk._monotonic())
        self._out.append(f.bid_frame(self._number, cmd, request_id))
        if self._transport is not None and not self._flushing:
            self._flushing = True
            self._loop.call_soon(self._flush)  # the bids of this turn of the loop go together
        return future

    async def _open(self) -> None:
        try:
            await asyncio.wait_for(
                self._loop.create_unix_connection(lambda: self, str(self._desk.path)), 2.0
            )
        except (OSError, TimeoutError) as exc:
            self._fail(WriterUnavailable(f"cannot connect: {exc.__class__.__name__}"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._flush()

    def _flush(self) -> None:
        self._flushing = False
        if self._transport is not None and self._out:
            self._transport.write(b"".join(self._out))
            self._out.clear()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for kind, number, payload in f.frames(self._buffer):
                waiting = self._pending.pop(number, None)
                if waiting is not None and not waiting[0].done():
                    _settle(waiting[0], kind, payload)
        except Exception as exc:  # a writer that speaks nonsense is as good as none
            log.exception("the bid writer's answer could not be read")
            self._fail(WriterUnavailable(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(WriterUnavailable("connection lost"))

    def _watch(self) -> None:
        """Once a second: a bid unanswered for ``answer_within`` s means a stuck writer."""
        if self.lost:
            return
        if self._pending:
            _, sent = next(iter(self._pending.values()))  # the oldest still waiting
            if self._desk._monotonic() - sent > self._desk._within:
                self._fail(WriterUnavailable("no answer in time"))
                return
        self._loop.call_later(1.0, self._watch)

    def _fail(self, error: CommexError) -> None:
        self.lost = True
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        if self._transport is None or self._loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._transport.close()
        else:
            self._loop.call_soon_threadsafe(self._transport.close)


def _settle(future: asyncio.Future[PlacedBid], kind: int, payload: bytes) -> None:
    """Settle ``future`` with the answer :func:`_answer` reads from the frame."""
    try:
        placed = _answer(kind, payload)
    except (CommexError, RuntimeError) as exc:
        future.set_exception(exc)
    else:
        future.set_result(placed)


class _SyncLink:
    """A blocking connection for callers in threads (a web page's form), one bid at a time."""

    def __init__(self, desk: RemoteBidDesk) -> None:
        self._desk = desk
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._number = 0

    def place(self, cmd: PlaceBid) -> PlacedBid:
        with self._lock:
            try:
                return self._exchange(cmd)
            except (OSError, f.FrameError) as exc:
                self.close()
                raise WriterUnavailable(exc.__class__.__name__) from exc

    def _exchange(self, cmd: PlaceBid) -> PlacedBid:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._desk._within)
            sock.connect(str(self._desk.path))
            sock.sendall(self._desk.hello())
            self._sock = sock
        self._number += 1
        self._sock.sendall(f.bid_frame(self._number, cmd, current_request_id()))
        buffer = bytearray()
        while True:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the bid writer closed the connection")
            buffer += chunk
            for kind, number, payload in f.frames(buffer):
                if number == self._number:
                    return _answer(kind, payload)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class WrittenBid(PlacedBid):
    """A bid the writer placed, as its answer frame brought it: :attr:`encoded` is the answer's
    JSON as the writer encoded it (with the same function the HTTP answer uses, so a worker
    writes it as it is), and the placed bid's fields are read from the frame only when
    something asks for them (a web page, the routed API call)."""

    __slots__ = ("_fields", "_read", "encoded")
    encoded: bytes
    _fields: bytes
    _read: PlacedBid | None

    def __init__(self, payload: bytes) -> None:
        body, fields = f.placed_parts(payload)
        object.__setattr__(self, "encoded", body)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_read", None)

    @property
    def view(self) -> BidView:
        return self._placed().view

    @property
    def bidder_role(self) -> Role:
        return self._placed().bidder_role

    def _placed(self) -> PlacedBid:
        read: PlacedBid | None = self._read
        if read is None:
            read = f.read_placed(self._fields)
            object.__setattr__(self, "_read", read)
        return read


def _answer(kind: int, payload: bytes) -> PlacedBid:
    if kind == f.PLACED:
        return WrittenBid(payload)
    if kind == f.REFUSED:
        raise f.read_refused(payload)
    raise RuntimeError(f"the bid writer failed: {payload.decode()}")
