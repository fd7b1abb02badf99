"""A real HTTP receiver for webhook tests: a threaded server on a free loopback port that
records every request and answers from a script (a status per request, the last one repeated),
optionally after holding the request for a while."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.net import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    hold: threading.Event | None = None  # answer only once set (a slow endpoint)
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            answered = len(self.got)
        return self.statuses[min(answered - 1, len(self.statuses) - 1)]


@contextmanager
def receiver(
    statuses: list[int] | None = None, hold: threading.Event | None = None
) -> Iterator[Receiver]:
    """A receiver at ``http://127.0.0.1:PORT/hook`` until the block ends."""
    port = free_port()
    box = Receiver(f"http://127.0.0.1:{port}/hook", statuses or [200], hold)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with box.lock:
                box.got.append(Received(self.path, dict(self.headers.items()), body))
            if box.hold is not None:
                box.hold.wait(30)
            self.send_response(box.next_status())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
