"""An HTTP forwarder in front of a processing node, for stories where the node dies mid-run.

The forwarder listens on a loopback port of its own and passes each request to the node and
its answer back, recording the packets of every work request the node answered (their rows in
the capture, decoded from the request's frame). Told to, it lets the first ``through`` work
requests through and, when the next one arrives, waits until those answers have gone back,
calls ``dying`` (which kills the node), closes its listener and drops that request and every
later one without an answer: the node dies while the run is in progress, at a point the test
chooses, with no sleeping.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np

from commex.stream import wire
from commex.stream.nodeclient import PROCESS_PATH

_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
WAIT_S = 60.0


@dataclass(frozen=True)
class Forwarded:
    """A work request the node answered: its subcontract and the capture rows it carried."""

    subcontract: str
    rows: np.ndarray


class Forwarder:
    """Forwards to the node at :meth:`forward_to`'s URL; with ``through``, the node dies at
    work request ``through + 1``."""

    def __init__(
        self,
        *,
        through: int | None = None,
        dying: Callable[[list[Forwarded]], None] = lambda answered: None,
    ) -> None:
        self._through, self._dying = through, dying
        self.answered: list[Forwarded] = []
        self.dropped: list[Forwarded] = []  # work that reached the node's address, unanswered
        self.errors: list[BaseException] = []
        self._taken = 0
        self._cond = threading.Condition()
        self._dead = threading.Event()
        self._client = httpx.Client(timeout=WAIT_S)
        self._target = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def forward_to(self, target: str) -> None:
        """Where the node listens (known once it is started with this forwarder's URL)."""
        self._target = target

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        work = h.command == "POST" and h.path == PROCESS_PATH
        if work and self._through is not None:
            with self._cond:
                self._taken += 1
                number = self._taken
            if number > self._through:
                if number == self._through + 1:
                    self._die()
                self._dead.wait(WAIT_S)
        if self._dead.is_set():
            if work:
                with self._cond:
                    self.dropped.append(_forwarded(h, body))
            h.close_connection = True  # no answer: the caller sees the connection close
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        answer = self._client.request(
            h.command, self._target + h.path, content=body, headers=headers
        )
        h.send_response(answer.status_code)
        h.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        h.send_header("Content-Length", str(len(answer.content)))
        h.end_headers()
        h.wfile.write(answer.content)
        h.wfile.flush()
        if work and answer.status_code == 200:
            done = _forwarded(h, body)
            with self._cond:
                self.answered.append(done)
                self._cond.notify_all()

    def _die(self) -> None:
        """Once the answers let through have gone back: kill the node, stop listening."""
        try:
            with self._cond:
                if not self._cond.wait_for(lambda: len(self.answered) >= (self._through or 0),
                                           WAIT_S):  # fmt: skip
                    raise AssertionError("the requests let through were not answered")
                answered = list(self.answered)
            self._dying(answered)
        except BaseException as exc:  # the test reads errors: a handler thread cannot fail it
            self.errors.append(exc)
        finally:
            # Stop listening while the requests in flight are still held (the plane's threads
            # wait on them): a later connection is refused, an earlier one is dropped.
            self._stop_listening()
            self._dead.set()

    def _stop_listening(self) -> None:
        with contextlib.suppress(OSError):
            self._server.socket.shutdown(socket.SHUT_RDWR)
        self._server.shutdown()
        self._server.server_close()

    def rows(self, *, dropped: bool = False) -> np.ndarray:
        """The capture rows of the work the node answered (or, with ``dropped``, of the work
        that reached its address and got no answer), in the order seen."""
        with self._cond:
            parts = [f.rows for f in (self.dropped if dropped else self.answered)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def close(self) -> None:
        if not self._dead.is_set():
            self._stop_listening()
            self._dead.set()
        self._client.close()


def _forwarded(h: BaseHTTPRequestHandler, body: bytes) -> Forwarded:
    batch, _ = wire.decode(body)
    return Forwarded(h.headers.get("X-Commex-Subcontract", ""), batch.index.copy())


def _handler(forwarder: Forwarder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the plane's client uses it

        def do_GET(self) -> None:  # the standard library's names
            forwarder.handle(self)

        def do_POST(self) -> None:
            forwarder.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test asserts what went through."""

    return Handler
