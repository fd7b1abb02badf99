"""The servers ``bench http`` loads, each its own process: ``commex serve`` as ``make run``
starts it (a SQLite file in a fresh data directory, WAL and ``synchronous=FULL``, the closing
scheduler running), and the bare Starlette baseline on uvicorn; plus the market a bid run needs,
set up through the HTTP API like any client would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from commex.bootstrap import build_services
from commex.services.commands import Register
from commex.settings import Settings

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
COMMEX = str(Path(sys.executable).with_name("commex"))


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far of the server and its child processes (workers)."""
        return _tree_cpu_seconds(self.pid)


@dataclass(frozen=True)
class Market:
    """Where bids go and who sends them: bid paths of open auctions, and bidders' tokens."""

    paths: list[str]
    tokens: list[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def _process(command: Sequence[str], env: dict[str, str], log: Path, port: int) -> Iterator[Server]:
    """Start ``command``; yield it once ``/v1/health`` answers 200; stop it on exit. Its output
    goes to ``log`` (it is shown if the process does not come up)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    try:
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(command[:3])} did not come up:\n{tail}")
            time.sleep(0.1)
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def serve_has_workers() -> bool:
    """Whether this ``commex serve`` takes ``--workers``."""
    done = subprocess.run(
        [COMMEX, "serve", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return "--workers" in done.stdout


@contextmanager
def commex_serve(data_dir: Path, workers: int | None = None) -> Iterator[Server]:
    """``commex serve`` over a fresh SQLite file in ``data_dir`` (with ``--workers`` only when
    given), the built-in test payment gateway, its log in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, COMMEX_DATA_DIR=str(data_dir), COMMEX_PAYMENT_GATEWAY="test")
    env.pop("COMMEX_DATABASE_URL", None)
    port = free_port()
    command = [COMMEX, "serve", "--host", HOST, "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    with _process(command, env, data_dir / "serve.log", port) as server:
        yield server


@contextmanager
def starlette_baseline(log_dir: Path) -> Iterator[Server]:
    """The bare Starlette app on uvicorn with uvicorn's defaults (as ``commex serve`` runs it:
    log level info, access log on)."""
    port = free_port()
    app = "bench._starlette_baseline:app"
    command = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    with _process(command, dict(os.environ), log_dir / "baseline.log", port) as server:
        yield server


def open_accounts(data_dir: Path, bidders: int) -> tuple[str, list[str]]:
    """A provider's token and ``bidders`` recipients' tokens, opened through the library on the
    SQLite file in ``data_dir`` before the server starts: over HTTP from one address the signup
    throttle stops new accounts after ten, which is its point, and the benchmark is not about
    signups."""
    data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(Settings(data_dir))
    try:
        seller = services.bus.handle(Register("Bench Seller", ("provider",))).token
        tokens = [
            services.bus.handle(Register(f"Bench Bidder {i}", ("recipient",))).token
            for i in range(bidders)
        ]
    finally:
        services.shutdown()
    return seller, tokens


def open_market(url: str, seller: str, tokens: list[str], auctions: int) -> Market:
    """``auctions`` open sealed first-price forward auctions of ``seller`` without a reserve
    (any positive bid is accepted), made through the API, for the bidders of ``tokens``."""
    closes = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    paths = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(auctions):
            auction: Mapping[str, object] = {
                "direction": "forward",
                "format": "first-price",
                "title": f"Benchmark block of voice {i}",
                "terms": {"service": "voice", "duration_s": 3600},
                "currency": "EUR",
                "closes_at": closes,
            }
            answer = client.post(
                "/v1/auctions", json=auction, headers={"Authorization": f"Bearer {seller}"}
            )
            if answer.status_code != 201:
                raise RuntimeError(f"POST /v1/auctions: {answer.status_code} {answer.text}")
            paths.append(f"/v1/auctions/{answer.json()['id']}/bids")
    return Market(paths, tokens)


def _tree_cpu_seconds(pid: int) -> float:
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the process ended meanwhile
            continue
    return total
