"""Finding auctions: a filtered page of 100 out of 100,000 auctions on SQLite.

A SQLite file holds 100,000 auctions of 500 owners (voice, data, video, sms and stream
processing; both directions, every format, EUR, USD and JPY; most open, with listed prices,
rate bounds and windows spread out), in the row format the repository writes. Each search is
answered through the message bus as ``GET /v1/auctions`` answers it (filters, order, a page of
100 with its owners' reputations), and beside it, in the same run, the floor: a raw ``sqlite3``
read of 100 open auctions by their closing time through the same index, with nothing else done.
The target is under 50 ms for every search.

Run: ``python -m bench finding`` (or ``python -m bench.finding [--auctions N] [--runs N]``).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from commex.adapters.clock import ManualClock
from commex.adapters.sql import tables as t
from commex.adapters.sql.auction_rows import auction_values
from commex.bootstrap import build_exchange
from commex.domain.auctions import Auction, Direction, EnglishState, Format, Status
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import MessageBus
from commex.services.marketplace import FindAuctions
from commex.settings import Settings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OWNERS = 500
SERVICES = ("voice", "data", "video", "sms", "stream-processing")
WORDS = ("Voice", "minutes", "Fibre", "data", "Lisbon", "harbour", "night", "video", "SMS",
         "bundle", "backhaul", "calls", "Porto", "office", "rural")  # fmt: skip
TARGET_MS = 50.0


def _auction(rng: random.Random, i: int, owners: list[str], sample: Auction) -> Auction:
    currency = rng.choice(("EUR", "EUR", "USD", "JPY"))
    scale = 0 if currency == "JPY" else 2
    money = lambda minor: Money(Decimal(minor).scaleb(-scale), currency)  # noqa: E731
    fmt = rng.choice(list(Format))
    direction = rng.choice(list(Direction))
    english = EnglishState()
    if fmt is Format.ENGLISH and rng.random() < 0.7:
        english = EnglishState(owners[0], None, money(rng.randint(100, 500_000)), None)
    low = rng.choice((None, 1_000_000, 5_000_000, 20_000_000, 100_000_000))
    window = rng.randint(0, 120) if rng.random() < 0.5 else None
    start = None if window is None else NOW + timedelta(days=window)
    status = rng.choices(list(Status), weights=(6, 3, 1))[0]
    return replace(
        sample,
        id=f"auc_{i:08d}",
        owner_id=owners[i % len(owners)],
        direction=direction,
        format=fmt,
        title=" ".join(rng.sample(WORDS, 3)),
        terms=ServiceTerms(
            rng.choice(SERVICES),
            3600 * rng.randint(1, 720),
            start,
            None if start is None else start + timedelta(days=rng.randint(1, 60)),
            low,
            None if low is None else low * rng.choice((1, 2, 10)),
        ),
        currency=currency,
        reserve=money(rng.randint(100, 500_000)) if rng.random() < 0.8 else None,
        min_increment=money(100),
        english=english,
        status=status,
        created_at=NOW - timedelta(seconds=rng.randint(0, 90 * 86400)),
        closes_at=NOW + timedelta(seconds=rng.randint(-30 * 86400, 30 * 86400)),
        outcome=None,
        bid_count=0,
        bid_seq=0,
    )


def build(data_dir: Path, n: int) -> tuple[MessageBus, str]:
    """The file with ``n`` auctions; the bus over it and an owner's id to search by."""
    bus = build_exchange(Settings(data_dir), clock=ManualClock(NOW))
    first = bus.handle(c.Register("Owner 0", ("provider", "recipient"))).account
    terms = c.Terms("voice", 3600)
    opening = c.OpenAuction(first.id, "forward", "english", "x", terms, "EUR", NOW + timedelta(1))
    sample = bus.handle(opening).auction
    engine = bus.uow_factory.engine  # type: ignore[attr-defined]
    owners = [first.id] + [f"acc_o{i:04d}" for i in range(1, OWNERS)]
    rng = random.Random(20261101)
    with engine.begin() as conn:
        conn.execute(
            insert(t.accounts),
            [{"id": o, "name": f"Owner {o}", "roles": "provider,recipient", "created_us": 0}
             for o in owners[1:]],
        )  # fmt: skip
        for start in range(0, n, 5000):
            rows = [
                _values(_auction(rng, i, owners, sample))
                for i in range(start, min(n, start + 5000))
            ]
            conn.execute(insert(t.auctions), rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return bus, owners[7]


def _values(a: Auction) -> dict[str, Any]:
    return auction_values(a)


SEARCHES: dict[str, dict[str, Any]] = {
    "open, closing soonest first (the home list)": {"status": "open", "sort": "closing"},
    "open data auctions, cheapest first": {"status": "open", "service": "data", "sort": "price"},
    "price 100 to 500, dearest first": {"min_price": "100", "max_price": "500", "sort": "-price"},
    "open, words 'fibre' in the title, newest": {"status": "open", "text": "fibre"},
    "at least 20 Mbit/s in a window, closing": {
        "status": "open",
        "min_rate_bps": "20000000",
        "sort": "closing",
        "window_from": (NOW + timedelta(days=30)).isoformat(),
        "window_to": (NOW + timedelta(days=40)).isoformat(),
    },
    "english, forward, EUR, open, newest": {
        "format": "english",
        "direction": "forward",
        "currency": "EUR",
        "status": "open",
    },
    "everything, newest first": {},
}


def _timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    times, answer = [], None
    for _ in range(runs):
        start = time.perf_counter()
        answer = fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], answer


def raw_floor(path: Path, runs: int) -> float:
    conn = sqlite3.connect(path)
    sql = "SELECT * FROM auctions WHERE status = 'open' ORDER BY closes_us, id LIMIT 100"
    median, _, rows = _timed(lambda: conn.execute(sql).fetchall(), runs)
    assert len(rows) == 100
    conn.close()
    return median


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--auctions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bus, owner = build(Path(tmp), args.auctions)
        print(f"{args.auctions} auctions written in {time.perf_counter() - started:.1f} s")
        floor = raw_floor(Path(tmp) / "commex.db", args.runs)
        print(f"raw sqlite3, 100 open auctions by close time : {floor:6.2f} ms (baseline, median)")
        searches = dict(SEARCHES) | {"one owner's, newest first": {"owner": owner}}
        worst = 0.0
        for label, filters in searches.items():
            query = FindAuctions(limit=100, **filters)
            median, p95, page = _timed(lambda query=query: bus.handle(query), args.runs)
            worst = max(worst, p95)
            print(f"{label:45}: {median:6.2f} ms median, {p95:6.2f} ms p95, "
                  f"{len(page.items):3d} shown")  # fmt: skip
            if page.next_key is not None:
                after = FindAuctions(limit=100, after=page.next_key, **filters)
                median, p95, _ = _timed(lambda after=after: bus.handle(after), args.runs)
                worst = max(worst, p95)
                print(f"{'  its next page':45}: {median:6.2f} ms median, {p95:6.2f} ms p95")
        listed = q.ListAuctions(Status.OPEN, 100)
        median, _, _ = _timed(lambda: bus.handle(listed), args.runs)
        print(f"{'(the old list: open, newest, by offset)':45}: {median:6.2f} ms median")
        verdict = "under" if worst < TARGET_MS else "OVER"
        print(f"slowest p95 {worst:.2f} ms: {verdict} the {TARGET_MS:.0f} ms target")
        bus.dispose()


if __name__ == "__main__":
    main()
