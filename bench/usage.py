"""Metering benchmark: durable usage reports per second into one contract on SQLite, each
metered with the contract's row locked, beside the raw sqlite3 insert+commit loop (the same
durability settings) measured in the same run.

Run: ``python -m bench usage`` (or ``python -m bench.usage [--reports N] [--threads N]``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.exchange import raw_insert_rate
from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.services import commands as c
from commex.services import queries as q
from commex.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MEMBERS = 5


def report_rate(data_dir: Path, n: int, threads: int) -> float:
    """``n`` one-second reports by five phone members into one contract whose block holds them
    all; checks afterwards that every second was metered exactly once."""
    clock = ManualClock(T0)
    s = build_services(Settings(data_dir), clock=clock, hasher=Argon2Hasher(1, 1024))
    bus = s.bus
    seller = bus.handle(c.Register("Seller", ("provider",))).account.id
    buyer = bus.handle(c.Register("Buyer", ("recipient",))).account.id
    terms = c.Terms("voice", n, max_members=MEMBERS)
    opening = c.OpenAuction(
        seller, "forward", "first-price", "benchmark block", terms, "EUR", T0 + timedelta(hours=1)
    )
    auction = bus.handle(opening).auction
    bus.handle(c.PlaceBid(auction.id, buyer, "1.00"))
    clock.advance(7200)
    bus.handle(c.CloseDue())
    (contract,) = bus.handle(q.MyContracts(buyer))
    members = [
        bus.handle(c.AddMember(contract.id, buyer, phone_number=f"+1415555{i:04d}")).id
        for i in range(MEMBERS)
    ]

    def report_range(worker: int) -> None:
        for i in range(worker, n, threads):
            bus.handle(c.ReportUsage(contract.id, c.Caller(buyer), members[i % MEMBERS], 1))

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(report_range, range(threads)))
    elapsed = time.perf_counter() - start
    used = bus.handle(q.ShowUsage(contract.id, c.Caller(buyer))).contract.used_ms
    s.shutdown()
    if used != n * 1000:
        raise RuntimeError(f"expected {n} s metered, found {used / 1000} s")
    return n / elapsed


@dataclass(frozen=True)
class UsageFigures:
    """Medians over the rounds: the raw sqlite3 loop (rows/s), and durable usage reports per
    second by the number of reporting threads."""

    reports: int
    rounds: int
    raw: float
    by_threads: dict[int, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "reports": self.reports,
            "rounds": self.rounds,
            "raw_rows_per_s": round(self.raw, 1),
            "reports_per_s": {str(n): round(r, 1) for n, r in self.by_threads.items()},
            "share_of_raw": {str(n): round(r / self.raw, 3) for n, r in self.by_threads.items()},
        }


def measure(reports: int, threads: int, rounds: int) -> UsageFigures:
    """One and ``threads`` reporting threads, each round interleaved with the raw loop (as
    bench.exchange does), so both see the same machine."""
    counts = sorted({1, threads})
    rates: dict[int, list[float]] = {n: [] for n in counts}
    raw: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(rounds):
            raw.append(raw_insert_rate(root / f"raw-{r}.db", reports))
            for n in counts:
                rates[n].append(report_rate(root / f"usage-{n}-{r}", reports, n))
    medians = {n: statistics.median(v) for n, v in rates.items()}
    return UsageFigures(reports, rounds, statistics.median(raw), medians)


def print_figures(figures: UsageFigures) -> None:
    print(f"raw sqlite3 insert+commit loop : {figures.raw:8.0f} rows/s (baseline, median)")
    for n, rate in figures.by_threads.items():
        label = f"{n} reporting thread" + ("s" if n > 1 else "")
        share = rate / figures.raw
        print(f"durable usage reports, {label:20}: {rate:8.0f} reports/s ({share:.0%} of raw)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    print_figures(measure(args.reports, args.threads, args.rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
