"""What the tests of `commex serve --workers N` share: accounts opened before the server starts,
the server with its worker and writer processes, and which worker holds which connection."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from serve_support import EXE, answers, free_port, wait_until


@dataclass
class Serving:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found

    def writer_pid(self) -> int | None:
        for pid in self.children():
            try:
                if b"commex.writer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        return None

    def workers(self) -> list[int]:
        return [p for p in self.children() if _is_worker(p)]

    def worker_of(self, connection: http.client.HTTPConnection) -> int | None:
        """The worker process that holds ``connection`` (an open one) at its end."""
        assert connection.sock is not None
        client_port = connection.sock.getsockname()[1]
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == self.port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                inode = fields[9]
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        return None


def _is_worker(pid: int) -> bool:
    try:
        return b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextmanager
def serving(data_dir: Path, workers: int) -> Iterator[Serving]:
    """`commex serve --workers N` over the SQLite file in ``data_dir``, its log beside it."""
    port = free_port()
    env = dict(os.environ, COMMEX_DATA_DIR=str(data_dir), COMMEX_ACCESS_LOG="0")
    for name in ("COMMEX_DATABASE_URL", "COMMEX_PAYMENT_GATEWAY"):
        env.pop(name, None)
    log = data_dir / f"serve-{workers}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Serving(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        wait_until(
            lambda: proc.poll() is not None or answers(f"{server.url}/v1/health"), "serve", 60
        )
        assert proc.poll() is None, log.read_text()
        if workers > 1:
            wait_until(lambda: len(server.workers()) >= workers, "the worker processes", 60)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def open_auction(url: str, seller: str, fmt: str = "first-price", **extra: object) -> str:
    body = {
        "direction": "forward",
        "format": fmt,
        "title": f"A {fmt} block",
        "terms": {"service": "voice", "duration_s": 60},
        "currency": "EUR",
        "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        **extra,
    }
    answer = httpx.post(
        f"{url}/v1/auctions", json=body, headers={"Authorization": f"Bearer {seller}"}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@contextmanager
def connections_on_every_worker(
    server: Serving, count: int
) -> Iterator[list[tuple[int, http.client.HTTPConnection]]]:
    """At least ``count`` open keep-alive connections, each with the worker that holds it, once
    every worker holds one (the kernel hands a new connection to whichever worker accepts);
    closed on exit."""
    held: list[tuple[int, http.client.HTTPConnection]] = []
    deadline = time.monotonic() + 60
    try:
        while len(held) < count or {w for w, _ in held} != set(server.workers()):
            assert time.monotonic() < deadline, f"connections by worker: {[w for w, _ in held]}"
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            held.append((0, connection))
            status, _ = call(connection, "GET", "/v1/health")
            assert status == 200
            worker = server.worker_of(connection)
            assert worker is not None
            held[-1] = (worker, connection)
        yield held
    finally:
        for _, connection in held:
            connection.close()


def stored_bids(data_dir: Path, auction: str) -> list[tuple[str, int]]:
    """The bids the database file holds on ``auction`` (id, sequence number), in order."""
    with closing(sqlite3.connect(data_dir / "commex.db")) as db:
        rows = db.execute(
            "SELECT id, seq FROM bids WHERE auction_id = ? ORDER BY seq", (auction,)
        ).fetchall()
    return [(str(i), int(s)) for i, s in rows]


def call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request on ``connection`` (kept open): the status and the JSON answer."""
    payload = None if body is None else json.dumps(body)
    sent = {"content-type": "application/json", **(headers or {})}
    connection.request(method, path, body=payload, headers=sent)
    answer = connection.getresponse()
    data = answer.read()
    return answer.status, json.loads(data) if data else {}
