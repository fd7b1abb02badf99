"""HTTP benchmark: durable bids per second through ``POST /v1/auctions/{id}/bids`` on the real
server (uvicorn, SQLite file, every accepted bid committed to disk), beside the same server's
``GET /v1/health``, which touches no database, measured in the same run as the baseline.

The server runs in its own process; a load client on loopback keeps a fixed number of requests
in flight on keep-alive connections (asyncio), each phase bounded by a request count and a time
cap. It prints requests per second and the p50 and p99 latencies of both, and the server
process's CPU time per request, which tells the server's own cost apart from the client's (both
share the machine's cores).

Run: ``python -m bench http`` (or ``python -m bench.http [--clients N] [--bids N] [--health N]``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn

from commex.bootstrap import build_services
from commex.server import create_server
from commex.services import commands as c
from commex.settings import Settings

HOST = "127.0.0.1"
BIDDERS = 128
AUCTIONS = 64


@dataclass(frozen=True)
class Phase:
    """What one phase of load measured."""

    label: str
    done: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    server_cpu_s: float | None = None

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        rate = self.done / self.seconds
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        cpu = ""
        if self.server_cpu_s is not None:
            cpu = f"; server CPU {self.server_cpu_s / self.done * 1e6:.0f} us/req"
        return (
            f"{self.label:34}: {rate:7.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            f"  ({self.done} in {self.seconds:.1f} s; {codes}{cpu})"
        )


def serve(data_dir: str, port: int) -> None:
    """The server process: the exchange on a SQLite file in ``data_dir``, as ``commex serve``
    runs it, without the per-request access log."""
    services = build_services(Settings(Path(data_dir)))
    uvicorn.run(
        create_server(services), host=HOST, port=port, log_level="warning", access_log=False
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux ``/proc``), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_process(data_dir: Path) -> Iterator[tuple[str, int]]:
    """Start the server in a subprocess; yield its base URL and pid once ``/v1/health``
    answers."""
    port = _free_port()
    command = [sys.executable, "-m", "bench.http", "--serve", str(data_dir), str(port)]
    root = Path(__file__).resolve().parents[1]
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    }
    proc = subprocess.Popen(command, env=env, cwd=root)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not come up")
            time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass(frozen=True)
class Market:
    auction_ids: list[str]
    tokens: list[str]


def prepare(data_dir: Path, bidders: int, auctions: int) -> Market:
    """Bidder accounts with tokens and open sealed forward auctions, written before the server
    starts (it shares the SQLite file)."""
    services = build_services(Settings(data_dir))
    try:
        bus = services.bus
        seller = bus.handle(c.Register("Bench Seller", ("provider",)))
        tokens = [
            bus.handle(c.Register(f"Bench Bidder {i}", ("recipient",))).token
            for i in range(bidders)
        ]
        closes = services.clock.now() + timedelta(hours=2)
        terms = c.Terms("voice", 3600)
        ids = [
            bus.handle(
                c.OpenAuction(
                    seller.account.id, "forward", "first-price",
                    f"Benchmark block of voice {i}", terms, "EUR", closes,
                )
            ).auction.id
            for i in range(auctions)
        ]  # fmt: skip
    finally:
        services.shutdown()
    return Market(ids, tokens)


class Connection:
    """One keep-alive HTTP/1.1 connection with a minimal client written on asyncio streams.

    A general client such as httpx spends about as much CPU per request as the server spends
    answering ``/v1/health``, so on a small machine it would measure itself; this one sends
    prepared bytes and reads the status, the headers and a Content-Length (or chunked) body.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, head: bytes = b"", body: bytes = b"") -> int:
        """Send a request (``head`` holds extra header lines) and return the answer's status."""
        line = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n".encode()
        length = f"Content-Length: {len(body)}\r\n\r\n".encode()
        self._writer.write(line + head + length + body)
        status = int((await self._reader.readline()).split()[1])
        size, chunked = 0, False
        while (header := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            if name.lower() == b"content-length":
                size = int(value)
            elif name.lower() == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not chunked:
            await self._reader.readexactly(size)
            return status
        while (chunk := int((await self._reader.readline()).split(b";")[0], 16)) > 0:
            await self._reader.readexactly(chunk + 2)
        await self._reader.readline()
        return status

    def close(self) -> None:
        self._writer.close()


Request = Callable[[Connection, int], Awaitable[int]]


async def _load(
    label: str, port: int, clients: int, total: int, cap_s: float, request: Request
) -> Phase:
    """Keep ``clients`` requests in flight until ``total`` are done or ``cap_s`` has passed."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    numbers = itertools.count()
    connections = [await Connection.open(port) for _ in range(clients)]
    start = time.perf_counter()
    stop = start + cap_s

    async def worker(conn: Connection) -> None:
        while True:
            n = next(numbers)
            if n >= total or time.perf_counter() > stop:
                return
            t0 = time.perf_counter()
            status = await request(conn, n)
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for c in connections:
            c.close()
    seconds = time.perf_counter() - start
    return Phase(label, len(latencies), seconds, latencies, statuses)


def run(clients: int, bids: int, health: int, cap_s: float) -> tuple[Phase, Phase]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        market = prepare(data_dir, BIDDERS, AUCTIONS)
        heads = [
            f"Authorization: Bearer {t}\r\nContent-Type: application/json\r\n".encode()
            for t in market.tokens
        ]
        paths = [f"/v1/auctions/{a}/bids" for a in market.auction_ids]

        async def bid(conn: Connection, n: int) -> int:
            # Request n goes to auction n mod A from bidder (n div A) mod B, so each bidder
            # bids about once per auction: every request is a new durable bid row, and the
            # answers stay the same size however long the run.
            head = heads[(n // len(paths)) % len(heads)]
            body = json.dumps({"amount": f"{10 + n % 90}.{n % 100:02d}"}).encode()
            return await conn.request("POST", paths[n % len(paths)], head, body)

        async def ping(conn: Connection, n: int) -> int:
            return await conn.request("GET", "/v1/health")

        with server_process(data_dir) as (url, pid):
            port = int(url.rsplit(":", 1)[1])

            def measure(label: str, total: int, request: Request) -> Phase:
                before = cpu_seconds(pid)
                phase = asyncio.run(_load(label, port, clients, total, cap_s, request))
                after = cpu_seconds(pid)
                if before is None or after is None:
                    return phase
                return replace(phase, server_cpu_s=after - before)

            # Warm both paths (connections, first queries) before measuring.
            measure("warm-up", clients * 4, ping)
            measure("warm-up", clients * 2, bid)
            base = measure("GET /v1/health (no database)", health, ping)
            bids_phase = measure("POST .../bids (durable, SQLite)", bids, bid)
    return base, bids_phase


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16, help="requests kept in flight")
    parser.add_argument("--bids", type=int, default=6000, help="bid requests to send at most")
    parser.add_argument("--health", type=int, default=20000, help="health requests at most")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds per phase at most")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    base, bids = run(args.clients, args.bids, args.health, args.cap)
    print(
        f"{args.clients} concurrent clients on loopback, server in its own process; "
        f"bids from {BIDDERS} bidders over {AUCTIONS} sealed auctions"
    )
    print(base.line() + "  (baseline)")
    print(bids.line())
    share = (bids.done / bids.seconds) / (base.done / base.seconds)
    print(f"durable bids/s as a share of health req/s: {share:.0%}")


if __name__ == "__main__":
    main(sys.argv[1:])
