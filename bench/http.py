"""HTTP benchmark with a real load generator: ``wrk`` (Debian package) drives ``commex serve``
as ``make run`` starts it (a SQLite file in a fresh data directory, WAL with
``synchronous=FULL``, the closing scheduler running), beside a bare Starlette JSON POST on
uvicorn in the same environment, measured in the same run as the baseline. Every server runs
in its own process; wrk runs with 32 connections, 1 thread and 8 s per run unless told
otherwise, pinned nowhere.

Reported, each as the rate of 2xx answers (any other answer is counted apart) with wrk's p50
and p99 latencies and the server's CPU time per answer:

- the baseline: the bare Starlette app taking the same bid requests;
- commex ``GET /v1/health`` and durable ``POST /v1/auctions/{id}/bids`` (16 bidders' tokens in
  turn over 16 open sealed first-price auctions), with one server process and with
  ``commex serve --workers 2`` when that option exists;
- durable usage reports with 8 reporting threads beside the raw sqlite3 loop (``bench.usage``);
- the wall time of ``commex --help`` and ``commex stream process --help``, best of several runs.

Run: ``python -m bench http`` (or ``python -m bench.http [--duration 8] [--json PATH] ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench import _wrk, usage
from bench._servers import (
    COMMEX,
    Market,
    Server,
    commex_serve,
    open_accounts,
    open_market,
    serve_has_workers,
    starlette_baseline,
)

BASELINE = "bare Starlette JSON POST (baseline)"
HELP_COMMANDS = (
    ("commex --help", ("--help",)),
    ("commex stream process --help", ("stream", "process", "--help")),
)


@dataclass(frozen=True)
class Row:
    """One measured line of the table; ``key`` names it in the JSON (``bids_1w``, ...)."""

    key: str
    name: str
    load: _wrk.Load
    server_cpu_us: float

    def to_dict(self, baseline: float) -> dict[str, object]:
        share = self.load.rate / baseline if baseline else None
        return {"key": self.key, "name": self.name, **self.load.to_dict()} | {
            "server_cpu_us_per_answer": round(self.server_cpu_us),
            "share_of_baseline": None if share is None else round(share, 3),
        }


@dataclass(frozen=True)
class Options:
    wrk: _wrk.Settings
    warmup_s: int
    bidders: int
    auctions: int


def measure(
    key: str, name: str, server: Server, options: Options, market: Market | None = None
) -> Row:
    """A short warm-up run, then the measured one; POSTs bids when given a market."""
    paths, tokens = (market.paths, market.tokens) if market else ((), ())
    url = server.url + ("" if market else "/v1/health")
    if options.warmup_s > 0:
        warm = _wrk.Settings(options.wrk.connections, options.wrk.threads, options.warmup_s)
        _wrk.run(url, warm, paths, tokens)
    before = server.cpu_seconds()
    load = _wrk.run(url, options.wrk, paths, tokens)
    answers = load.ok + load.not_ok
    cpu_us = (server.cpu_seconds() - before) / answers * 1e6 if answers else 0.0
    return Row(key, name, load, cpu_us)


def baseline_row(options: Options, work: Path) -> Row:
    """The bare app taking the same bid requests (same paths, tokens and bodies)."""
    market = Market(
        [f"/v1/auctions/auc_bench{i}/bids" for i in range(options.auctions)],
        [f"cx_bench_bidder_{i}" for i in range(options.bidders)],
    )
    with starlette_baseline(work) as server:
        return measure("baseline", BASELINE, server, options, market)


def commex_rows(options: Options, workers: int | None, data_dir: Path) -> list[Row]:
    """``GET /v1/health`` and durable bids on one fresh ``commex serve``."""
    n = workers or 1
    label = f"{n} worker" + ("s" if n > 1 else "")
    seller, tokens = open_accounts(data_dir, options.bidders)
    with commex_serve(data_dir, workers) as server:
        market = open_market(server.url, seller, tokens, options.auctions)
        health = measure(f"health_{n}w", f"commex GET /v1/health, {label}", server, options)
        bids_name = f"commex POST .../bids ({options.bidders} bidders), {label}"
        bids = measure(f"bids_{n}w", bids_name, server, options, market)
    return [health, bids]


def help_wall_times(runs: int) -> dict[str, float]:
    """Best wall time of each help command over ``runs`` runs, in seconds."""
    best: dict[str, float] = {}
    for label, args in HELP_COMMANDS:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([COMMEX, *args], capture_output=True, timeout=120, check=True)
            times.append(time.perf_counter() - start)
        best[label] = min(times)
    return best


def print_table(rows: Sequence[Row], baseline: float, not_measured: Sequence[str]) -> None:
    print(f"{'':54} {'2xx/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}", end="")
    print(f" {'CPU us/ans':>10} {'vs base':>8}")
    for row in rows:
        ld = row.load
        share = f"{ld.rate / baseline:8.1%}" if baseline else f"{'n/a':>8}"
        print(
            f"{row.name:54} {ld.rate:8.0f} {ld.p50_ms:8.2f} {ld.p99_ms:8.2f} {ld.not_ok:8d}"
            f" {ld.socket_errors:7d} {row.server_cpu_us:10.0f} {share}"
        )
    for line in not_measured:
        print(line)


def server_stack() -> dict[str, str | None]:
    """Versions of what serves both apps. uvicorn picks uvloop and httptools by itself when
    they are installed, for commex serve and the baseline alike."""
    found: dict[str, str | None] = {}
    for name in ("uvicorn", "starlette", "fastapi", "uvloop", "httptools"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def http_rows(options: Options) -> tuple[list[Row], list[str]]:
    """The baseline, then commex with one process, then with two where it can."""
    rows: list[Row] = []
    not_measured: list[str] = []
    with tempfile.TemporaryDirectory(prefix="commex-bench-http-") as tmp:
        work = Path(tmp)
        rows.append(baseline_row(options, work))
        rows += commex_rows(options, None, work / "serve-1")
        if serve_has_workers():
            rows += commex_rows(options, 2, work / "serve-2")
        else:
            not_measured.append("2 workers: not available (commex serve has no --workers yet)")
    return rows, not_measured


def print_http(options: Options, rows: Sequence[Row], not_measured: Sequence[str]) -> None:
    settings, stack = options.wrk, server_stack()
    print(
        f"wrk -c{settings.connections} -t{settings.threads} -d{settings.seconds}s "
        f"(warm-up {options.warmup_s} s each); uvicorn {stack['uvicorn']} on "
        f"{'uvloop' if stack['uvloop'] else 'asyncio'} with "
        f"{'httptools' if stack['httptools'] else 'h11'} for every server"
    )
    baseline = rows[0].load.rate
    print_table(rows, baseline, not_measured)
    by_key = {row.key: row.load.rate for row in rows}
    if "bids_2w" in by_key and by_key["bids_1w"]:
        print(f"durable bids, 2 workers / 1 worker: {by_key['bids_2w'] / by_key['bids_1w']:.2f}x")


def run(options: Options, usage_args: tuple[int, int, int], help_runs: int) -> dict[str, object]:
    """Every measurement, printed section by section, and returned as one JSON-able document."""
    _wrk.wrk_path()  # fail before starting anything when wrk is missing
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    rows, not_measured = http_rows(options)
    load_after_http = os.getloadavg()
    print_http(options, rows, not_measured)
    print(f"load average before {load_before[0]:.2f}, after {load_after_http[0]:.2f}", end="")
    print(f" ({os.cpu_count()} CPUs)\n")
    reports, threads, rounds = usage_args
    figures = usage.measure(reports, threads, rounds)
    usage.print_figures(figures)
    print()
    startup = help_wall_times(help_runs)
    for label, seconds in startup.items():
        print(f"{label:30}: {seconds:6.2f} s wall (best of {help_runs})")
    return {
        "started": started.isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after_http": [round(x, 2) for x in load_after_http],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "server_stack": server_stack(),
        "wrk": options.wrk.to_dict() | {"warmup_s": options.warmup_s},
        "http": [row.to_dict(rows[0].load.rate) for row in rows],
        "not_measured": not_measured,
        "usage": figures.to_dict(),
        "startup_s": {label: round(s, 3) for label, s in startup.items()},
    }


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    count = _count
    parser.add_argument("--connections", type=count, default=32, help="wrk connections")
    parser.add_argument("--threads", type=count, default=1, help="wrk threads")
    parser.add_argument("--duration", type=count, default=8, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--bidders", type=count, default=16, help="bidders' tokens in turn")
    parser.add_argument("--auctions", type=count, default=16, help="auctions bid on in turn")
    parser.add_argument("--usage-reports", type=count, default=1000)
    parser.add_argument("--usage-threads", type=count, default=8)
    parser.add_argument("--usage-rounds", type=count, default=3)
    parser.add_argument("--help-runs", type=count, default=5, help="runs of each --help")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv or [])
    options = Options(
        _wrk.Settings(args.connections, args.threads, args.duration),
        max(0, args.warmup),
        args.bidders,
        args.auctions,
    )
    usage_args = (args.usage_reports, args.usage_threads, args.usage_rounds)
    document = run(options, usage_args, args.help_runs)
    if args.json:
        command = {"command": " ".join(["python -m bench.http", *(argv or [])])}
        args.json.write_text(json.dumps(command | document, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])
