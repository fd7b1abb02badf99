"""Exchange benchmarks: durable bids per second through the service layer on SQLite, beside a
raw sqlite3 single-row-insert loop with the same durability settings; and the time to close an
auction holding 100,000 bids.

Run: ``python -m bench exchange`` (or ``python -m bench.exchange [--bids N] [--close-bids N]``).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from commex.adapters.clock import ManualClock
from commex.adapters.sql import tables as t
from commex.bootstrap import build_exchange
from commex.domain.time import to_micros
from commex.services import commands as c
from commex.services import queries as q
from commex.settings import Settings

DAY = timedelta(days=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def raw_insert_rate(path: Path, n: int) -> float:
    """Single-row INSERT + COMMIT per row, WAL and synchronous=FULL as commex uses."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE bids (id TEXT PRIMARY KEY, auction_id TEXT, bidder_id TEXT, "
        "amount_minor INTEGER, seq INTEGER, created_us INTEGER)"
    )
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO bids VALUES (?, ?, ?, ?, ?, ?)",
            (f"bid_{i}", "auc_1", f"acc_{i % 50}", 1000 + i, i, i),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def service_bid_rate(data_dir: Path, n: int, fmt: str, threads: int = 1) -> float:
    """Bids through the message bus (PlaceBid): lock the auction, check the rules, insert,
    answer each bid with its bidder's reputation, commit.

    With several threads, bids that arrive during a commit share the next one (group commit).
    """
    clock = ManualClock(T0)
    ex = build_exchange(Settings(data_dir), clock=clock)
    seller = ex.handle(c.Register("Seller", ("provider",))).account
    bidders = [ex.handle(c.Register(f"B{i}", ("recipient",))).account.id for i in range(50)]
    terms = c.Terms("voice", 600)
    opening = c.OpenAuction(seller.id, "forward", fmt, "benchmark", terms, "EUR", T0 + DAY)
    auction = ex.handle(opening).auction

    def bid_range(worker: int) -> None:
        for i in range(worker, n, threads):
            cents = 100 + i
            amount = f"{cents // 100}.{cents % 100:02d}"
            ex.handle(c.PlaceBid(auction.id, bidders[i % 50], amount))

    start = time.perf_counter()
    if threads == 1:
        bid_range(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(bid_range, range(threads)))
    elapsed = time.perf_counter() - start
    stored = ex.handle(q.AuctionState(auction.id)).bid_count
    ex.dispose()
    if fmt != "english" and stored != min(n, 50):
        raise RuntimeError(f"expected {min(n, 50)} active sealed bids, found {stored}")
    return n / elapsed


def close_time(data_dir: Path, n: int, weighted_reverse: bool = False) -> float:
    """Seconds to close a sealed auction holding ``n`` active bids (loaded in bulk first).

    A forward auction is decided by its best ``quantity + 1`` bids, read in index order; a
    reverse auction ranked with a reputation weight must read and rank every bid.
    """
    clock = ManualClock(T0)
    ex = build_exchange(Settings(data_dir), clock=clock)
    owner_role = "recipient" if weighted_reverse else "provider"
    owner = ex.handle(c.Register("Owner", (owner_role,))).account
    engine = ex.uow_factory.engine  # type: ignore[attr-defined]
    bidders = [f"acc_b{i}" for i in range(n)]
    role = "provider" if weighted_reverse else "recipient"
    with engine.begin() as conn:
        conn.execute(
            insert(t.accounts),
            [{"id": b, "name": b, "roles": role, "created_us": 0} for b in bidders],
        )
    opening = c.OpenAuction(
        owner.id,
        "reverse" if weighted_reverse else "forward",
        "second-price",
        "a very popular block",
        c.Terms("voice", 600),
        "EUR",
        T0 + timedelta(hours=1),
        quantity=1 if weighted_reverse else 10,
        reputation_weight="0.5" if weighted_reverse else None,
    )
    auction = ex.handle(opening).auction
    # Fill the auction directly: this measures the close, not the bids.
    rows = [
        {
            "id": f"bid_{i}",
            "auction_id": auction.id,
            "bidder_id": bidders[i],
            "amount_minor": 100 + (i * 7919) % 1_000_003,
            "max_minor": None,
            "seq": i + 1,
            "created_us": to_micros(T0),
            "proxy": False,
            "active": True,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(t.bids), rows)
        conn.execute(
            t.auctions.update().where(t.auctions.c.id == auction.id).values(bid_count=n, bid_seq=n)
        )
    clock.advance(3601)
    start = time.perf_counter()
    (closed,) = ex.handle(c.CloseDue())  # as the scheduler closes it
    elapsed = time.perf_counter() - start
    expected = 1 if weighted_reverse else 10
    assert closed.outcome is not None and len(closed.outcome.winners) == expected
    ex.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", type=int, default=2000)
    parser.add_argument("--close-bids", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    cases = (
        ("sealed bids, 1 bidder thread", "first-price", 1),
        ("english bids, 1 bidder thread", "english", 1),
        (f"sealed bids, {args.threads} bidder threads", "first-price", args.threads),
    )
    rates: dict[str, list[float]] = {"raw": []} | {label: [] for label, _, _ in cases}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Rounds interleave the baseline with each case so that a noisy disk (fsync times
        # vary a lot on shared machines) affects both alike; the medians are reported.
        for r in range(args.rounds):
            rates["raw"].append(raw_insert_rate(root / f"raw-{r}.db", args.bids))
            for label, fmt, threads in cases:
                data_dir = root / f"{fmt}-{threads}-{r}"
                rates[label].append(service_bid_rate(data_dir, args.bids, fmt, threads))
        raw = statistics.median(rates["raw"])
        print(f"raw sqlite3 insert+commit loop       : {raw:8.0f} rows/s (baseline, median)")
        for label, _, _ in cases:
            rate = statistics.median(rates[label])
            print(f"durable {label:29}: {rate:8.0f} bids/s ({rate / raw:.0%} of raw)")
        n = args.close_bids
        seconds = close_time(root / "close", n)
        print(f"close a forward auction of {n} bids: {seconds:8.3f} s")
        seconds = close_time(root / "close-reverse", n, weighted_reverse=True)
        print(f"close a reputation-weighted reverse auction of {n} bids: {seconds:.3f} s")


if __name__ == "__main__":
    main()
