"""The HTTP/1.1 connection ``commex serve`` runs: uvicorn's (httptools), each answer's head and
body reaching the socket in one write.

uvicorn writes an answer's status line and headers as soon as the app starts the answer, and
its body as a second write; on uvloop each write is a system call at once, and on a local
network each is a packet that wakes the client. :class:`OneWriteHttpProtocol` holds the head
until the body's write, which follows it in the same turn of the event loop, and writes both
together; a head whose body does not follow in that turn (a stream) is written at the end of
the turn. The bytes, their order and every other call on the connection are uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD = b"HTTP/"


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools connection, writing through :class:`HeadHoldingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # The transport's own type in all but name: every call it does not hold goes through.
        super().connection_made(cast(asyncio.Transport, HeadHoldingTransport(transport, self.loop)))


class HeadHoldingTransport:
    """``transport`` whose writes of an answer's head wait for the next write (the body), or
    for the end of the loop's turn, whichever comes first. Everything that could let the held
    bytes be overtaken or lost (closing, end of file, a question about the buffer) writes them
    first; everything else is the transport's own."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:5] == _HEAD:
            self._held = bytes(data)
            self._loop.call_soon(self._end_of_turn)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def _end_of_turn(self) -> None:
        # A head still held has no body to come at once (a stream); if the connection was
        # lost meanwhile, there is nobody to write it to (uvloop refuses a closed transport).
        if self._transport.is_closing():
            self._held = None
        else:
            self.flush()

    def writelines(self, lines: Any) -> None:
        self.flush()
        self._transport.writelines(lines)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
