"""Reputation benchmark: what showing reputation costs the auction list and the home page.

A SQLite file holds 1,000 open auctions from 200 providers and 100,000 ratings of those
providers (one per delivered contract, from 1,000 recipients over the last 300 days), with the
reputation tallies built by :func:`commex.domain.reputation.add_rating` as the rating service
would. ``GET /v1/auctions?status=open&limit=100`` and the home page ``/`` are measured through
the ASGI app in process (no network), beside the same app over the same file with reputation
switched off (:class:`~commex.adapters.memory.NoRatingsYet`), in the same run; and, for
scale, the owners' reputations of one page read in a single batch.

Run: ``python -m bench reputation`` (or ``python -m bench.reputation [--requests N]``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from commex.adapters.clock import ManualClock
from commex.adapters.memory import NoRatingsYet
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.sql import tables as t
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import build_services
from commex.domain.accounts import Role
from commex.domain.auctions import Status
from commex.domain.reputation import PairTally, Tally, add_rating
from commex.domain.time import from_micros, to_micros
from commex.server import create_server
from commex.services import commands as c
from commex.services import queries as q
from commex.services.ports import ReputationSource
from commex.services.reputation import TallyReputations
from commex.settings import Settings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PROVIDERS = 200
RECIPIENTS = 1000
OPEN_AUCTIONS = 1000
RATINGS = 100_000
SPREAD_DAYS = 300
HASHER = Argon2Hasher(time_cost=1, memory_kib=1024)


def _opening(owner_id: str, title: str, closes: datetime) -> c.OpenAuction:
    terms = c.Terms("voice", 3600)
    return c.OpenAuction(owner_id, "forward", "first-price", title, terms, "EUR", closes)


def _row(engine: Engine, table: Any, row_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(table.c.id == row_id)).mappings().one())


def build(data_dir: Path) -> str:
    """Fill a fresh SQLite file; returns an API token of a recipient to read with.

    One auction, bid and contract are made through the services, so the row formats are the
    real ones; the rest are copies of those rows, inserted in bulk.
    """
    clock = ManualClock(NOW - timedelta(days=SPREAD_DAYS + 1))
    services = build_services(Settings(data_dir), clock=clock, hasher=HASHER)
    bus = services.bus
    reader = bus.handle(c.Register("Reader", ("recipient",)))
    seller = bus.handle(c.Register("Seed seller", ("provider",))).account
    buyer = bus.handle(c.Register("Seed buyer", ("recipient",))).account
    sample = bus.handle(_opening(seller.id, "seed", clock.now() + timedelta(hours=1))).auction
    bus.handle(c.PlaceBid(sample.id, buyer.id, "10.00"))
    clock.advance(7200)
    bus.handle(c.CloseAuction(sample.id, seller.id))
    (contract,) = bus.handle(q.MyContracts(buyer.id))
    services.shutdown()

    engine = make_engine(Settings(data_dir).url())
    auction_row = _row(engine, t.auctions, sample.id)
    bid_row = _row(engine, t.bids, contract.bid_id)
    contract_row = _row(engine, t.contracts, contract.id)
    rng = random.Random(7)
    providers = [f"acc_p{i:04d}" for i in range(PROVIDERS)]
    recipients = [f"acc_r{i:04d}" for i in range(RECIPIENTS)]
    accounts = [
        {"id": a, "name": a, "roles": role, "created_us": 0, "owner_id": a}
        for group, role in ((providers, "provider"), (recipients, "recipient"))
        for a in group
    ]
    closes = to_micros(NOW + timedelta(days=7))
    open_rows = [
        auction_row
        | {
            "id": f"auc_o{i:05d}",
            "owner_id": providers[i % PROVIDERS],
            "title": f"block of voice {i}",
            "status": "open",
            "outcome": None,
            "closes_us": closes + i,
            "created_us": to_micros(NOW) - i,
            "bid_count": 0,
            "bid_seq": 0,
            "leader_id": None,
            "leader_bid_id": None,
        }
        for i in range(OPEN_AUCTIONS)
    ]
    # One closed auction per provider, each with RATINGS / PROVIDERS delivered contracts.
    per = RATINGS // PROVIDERS
    closed_rows = [
        auction_row | {"id": f"auc_c{p:04d}", "owner_id": providers[p], "quantity": per}
        for p in range(PROVIDERS)
    ]
    bids, contracts, ratings = [], [], []
    moments = sorted(
        to_micros(NOW - timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86400)))
        for _ in range(RATINGS)
    )
    for i in range(RATINGS):
        p, recipient = i % PROVIDERS, recipients[(i // PROVIDERS + i) % RECIPIENTS]
        at = moments[i]
        bids.append(
            bid_row | {"id": f"bid_{i:06d}", "auction_id": f"auc_c{p:04d}", "bidder_id": recipient}
            | {"seq": i // PROVIDERS + 1}
        )  # fmt: skip
        contracts.append(
            contract_row
            | {
                "id": f"con_{i:06d}",
                "auction_id": f"auc_c{p:04d}",
                "bid_id": f"bid_{i:06d}",
                "provider_id": providers[p],
                "recipient_id": recipient,
                "started_us": at,
            }
        )
        ratings.append(
            {
                "id": f"rat_{i:06d}",
                "contract_id": f"con_{i:06d}",
                "rated_id": providers[p],
                "rated_role": "provider",
                "rater_key": f"account:{recipient}",
                "rater_account_id": recipient,
                "device_id": None,
                "satisfied": rng.random() < 0.9,
                "score": rng.randint(3, 5),
                "comment": None,
                "created_us": at,
            }
        )
    tallies, pairs = _tallies(ratings)
    with engine.begin() as conn:
        conn.execute(insert(t.accounts), accounts)
        conn.execute(insert(t.auctions), open_rows + closed_rows)
        conn.execute(insert(t.bids), bids)
        conn.execute(insert(t.contracts), contracts)
        conn.execute(insert(t.ratings), ratings)
        conn.execute(insert(t.reputations), tallies)
        conn.execute(insert(t.reputation_pairs), pairs)
    engine.dispose()
    return reader.token


def _tallies(ratings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tallies the rating service would have kept, rating by rating in time order."""
    tally: dict[str, Tally] = {}
    pair: dict[tuple[str, str], PairTally] = {}
    for r in ratings:
        key = (r["rated_id"], r["rater_account_id"])
        tally[r["rated_id"]], pair[key], _ = add_rating(
            tally.get(r["rated_id"]), pair.get(key), r["satisfied"], from_micros(r["created_us"])
        )
    return (
        [
            {"account_id": a, "role": "provider", "positive": x.positive}
            | {"negative": x.negative, "as_of_us": to_micros(x.as_of)}
            for a, x in tally.items()
        ],
        [
            {"account_id": a, "role": "provider", "counterparty": c, "weight": x.weight}
            | {"as_of_us": to_micros(x.as_of)}
            for (a, c), x in pair.items()
        ],
    )


@contextmanager
def client(data_dir: Path, reputations: ReputationSource | None) -> Iterator[TestClient]:
    services = build_services(
        Settings(data_dir), clock=ManualClock(NOW), reputations=reputations, hasher=HASHER
    )
    try:
        with TestClient(create_server(services, scheduler=False)) as c:
            yield c
    finally:
        services.shutdown()


def measure(c: TestClient, path: str, headers: dict[str, str], n: int) -> list[float]:
    for _ in range(5):  # warm up caches and templates
        assert c.get(path, headers=headers).status_code == 200
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = c.get(path, headers=headers)
        out.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
    return out


def batched_read(data_dir: Path, n: int = 50) -> str:
    """The reputations of the first page's 100 owners read in one batch (``of_many``): what
    the listing would cost for reputation if it did not ask owner by owner."""
    services = build_services(Settings(data_dir), clock=ManualClock(NOW), hasher=HASHER)
    engine = make_engine(Settings(data_dir).url())
    uow = SqlUnitOfWorkFactory(engine)
    reps = TallyReputations(ManualClock(NOW))
    owners = [a.auction.owner_id for a in services.bus.handle(q.ListAuctions(Status.OPEN, 100))]
    with uow(write=False) as u:
        reps.of_many(u, owners, Role.PROVIDER)
        start = time.perf_counter()
        for _ in range(n):
            reps.of_many(u, owners, Role.PROVIDER)
    each = (time.perf_counter() - start) / n * 1000
    services.shutdown()
    engine.dispose()
    return f"{'reputation of 100 listed owners in one batch':66}: {each:7.2f} ms"


def line(label: str, lat: list[float]) -> str:
    lat = sorted(lat)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    rps = len(lat) / sum(lat)
    return f"{label:66}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {rps:7.1f} req/s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        start = time.perf_counter()
        token = build(data_dir)
        print(
            f"built {OPEN_AUCTIONS} open auctions from {PROVIDERS} providers and {RATINGS} "
            f"ratings in {time.perf_counter() - start:.1f} s"
        )
        headers = {"Authorization": f"Bearer {token}"}
        with client(data_dir, None) as c:
            item = c.get("/v1/auctions?status=open&limit=1", headers=headers).json()["items"][0]
            rep = item["owner"]["reputation"]
            print(f"an owner as listed: {rep['summary']} (lower bound {rep['lower_bound']})")
            assert rep["count"] > 0, "the benchmark must list real reputations"
        print(batched_read(data_dir))
        cases = [
            ("GET /v1/auctions?status=open&limit=100", "/v1/auctions?status=open&limit=100"),
            ("GET / (home page)", "/"),
        ]
        results: dict[tuple[str, str], list[float]] = {}
        # Rounds interleave the two setups so that noise on the shared machine hits both alike.
        for _ in range(args.rounds):
            for setup, reps in (("reputation", None), ("no reputation", NoRatingsYet())):
                with client(data_dir, reps) as c:
                    for label, path in cases:
                        key = (label, setup)
                        got = measure(c, path, headers, args.requests)
                        results[key] = results.get(key, []) + got
        for label, _ in cases:
            with_rep = results[(label, "reputation")]
            without = results[(label, "no reputation")]
            print(line(f"{label}, with reputation", with_rep))
            print(line(f"{label}, reputation off (baseline)", without))
            ratio = statistics.median(with_rep) / statistics.median(without)
            print(f"{'':66}  reputation costs {ratio:.2f}x the baseline p50")


if __name__ == "__main__":
    main()
