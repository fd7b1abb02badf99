"""The bid writer of ``commex serve --workers N`` on SQLite: one process that owns the bid desk
and writes every bid the HTTP workers receive, in group commits.

SQLite lets one writer in at a time, so worker processes that each ran their own desk took
turns on the file's lock for every group commit, and mostly waited. With one writer, the bids
of every worker join the same batches: one commit (one fsync) serves them all. The workers
still parse, authenticate and answer; they hand each bid over the writer's Unix socket
(:mod:`commex.adapters.bidwriter`) and answer 503 ``writer_unavailable`` at once while it is
down.

:class:`BidWriter` starts the process before the workers (and waits for its socket), restarts
it if it dies, and stops it after them: on SIGTERM the writer answers every bid it has queued
before it exits. Run ``python -m commex.writer --socket PATH`` only through ``commex serve``,
which gives it the start's secret in ``COMMEX_BID_WRITER_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvloop

from commex.adapters import logs
from commex.adapters.bidwriter.client import RemoteBidDesk
from commex.adapters.bidwriter.server import WriterServer
from commex.api.wire.auctions import placed_bid_json
from commex.bootstrap import build_bid_writer
from commex.domain.errors import Unavailable
from commex.settings import Settings

log = logging.getLogger("commex.bidwriter")
SECRET_ENV = "COMMEX_BID_WRITER_SECRET"  # noqa: S105 - the variable's name, not a secret
SOCKET_ENV = "COMMEX_BID_WRITER"
READY_S = 30.0
STOP_S = 30.0
RESTART_PAUSE_S = 0.25


class BidWriter:
    """Starts, watches and stops the writer process. Its socket lives in a directory of its
    own that only this user may enter (made by :func:`tempfile.mkdtemp`, mode 700, in
    ``XDG_RUNTIME_DIR`` when there is one), and the socket itself is mode 600."""

    def __init__(self, log_format: str, log_level: str) -> None:
        runtime = os.environ.get("XDG_RUNTIME_DIR") or None
        self.directory = Path(tempfile.mkdtemp(prefix="commex-writer-", dir=runtime))
        self.path = self.directory / "bids.sock"
        self._secret = secrets.token_hex(32)
        self._command = [
            sys.executable, "-m", "commex.writer", "--socket", str(self.path),
            "--parent", str(os.getpid()), "--log-format", log_format, "--log-level", log_level,
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="commex-writer-watch")

    def worker_env(self) -> dict[str, str]:
        """What a worker's environment needs to reach the writer."""
        return {SOCKET_ENV: str(self.path), SECRET_ENV: self._secret}

    def start(self) -> None:
        """Start the writer and return once its socket answers (Unavailable otherwise)."""
        self._spawn()
        try:
            RemoteBidDesk(self.path, self._secret.encode()).wait_ready(READY_S)
        except Exception as exc:
            self.stop()
            raise Unavailable(
                f"the bid writer did not start within {READY_S:.0f} s (its log is above)"
            ) from exc
        self._watcher.start()

    def stop(self) -> None:
        """Stop the writer (it answers what it has queued first), then remove its socket."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                log.error("the bid writer did not stop within %s s; killed", STOP_S)
                proc.kill()
                proc.wait()
        if self._watcher.is_alive():
            self._watcher.join()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._proc is None else self._proc.pid

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
        env[SECRET_ENV] = self._secret
        with self._lock:
            if not self._stopping.is_set():
                self._proc = subprocess.Popen(self._command, env=env)

    def _watch(self) -> None:
        """Restart the writer whenever it ends while the server still runs: at once after a
        long life, and after longer and longer pauses (up to 10 s) if it keeps ending."""
        pause = RESTART_PAUSE_S
        while not self._stopping.is_set():
            with self._lock:
                proc = self._proc
            if proc is None:
                return
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            pause = RESTART_PAUSE_S if time.monotonic() - started > 10 else min(pause * 2, 10)
            log.error("the bid writer ended (exit status %s); starting it again", code)
            if self._stopping.wait(pause):
                return
            self._spawn()


def serve(path: Path, secret: bytes, parent: int) -> None:
    """The writer process: serve the bid desk at ``path`` until SIGTERM (or until ``parent``,
    the server that started it, is gone), then answer what is queued and close."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C stops the server, which stops us
    bus, desk = build_bid_writer(Settings.from_env())
    # What start-up made lives as long as the process: out of the collector's sight, a full
    # collection under load takes a few ms rather than stalling every batch for 70 ms or more.
    gc.collect()
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(WriterServer(desk, path, secret, placed_bid_json), parent))
    finally:
        bus.dispose()  # the desk's last batch is done; its connection goes back


async def _serve(server: WriterServer, parent: int) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await server.start()
    log.info("bid writer ready", extra={"pid": os.getpid()})
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), 1.0)
        except TimeoutError:
            if os.getppid() != parent:  # the server is gone without stopping us
                break
    await server.stop(STOP_S)
    if os.getppid() != parent:  # nobody else will remove the socket's directory
        with contextlib.suppress(OSError):
            server.path.parent.rmdir()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop  # as the workers' uvicorn runs (uvicorn[standard])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m commex.writer", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--parent", type=int, default=os.getppid(), help="the server's pid")
    parser.add_argument("--log-format", default="json")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logs.configure(args.log_format, args.log_level)
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < 32:
        parser.error(f"{SECRET_ENV} must hold the server's secret")
    serve(args.socket, secret.encode(), args.parent)


if __name__ == "__main__":
    main()
