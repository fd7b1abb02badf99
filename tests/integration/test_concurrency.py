"""Several OS processes bid on one auction while others close it (A7), on SQLite and
PostgreSQL; and a process killed with SIGKILL loses no acknowledged bid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from commex.adapters.sql import tables as t
from commex.adapters.sql.engine import make_engine
from commex.bootstrap import build_exchange
from commex.domain.time import to_micros
from commex.settings import Settings
from support.engine import open_auction, register, view

BIDDER = Path(__file__).with_name("bidder.py")


def _setup(url: str, bidders: int) -> tuple[str, list[str], str]:
    ex = build_exchange(Settings(Path("."), url))
    owner = register(ex, "Seller", ["provider"])
    operator = register(ex, "Operator", ["operator"], allow_operator=True)
    accounts = [register(ex, f"Buyer {i}", ["recipient"]).id for i in range(bidders)]
    closes = datetime.now(UTC) + timedelta(hours=1)
    auction = open_auction(
        ex,
        owner.id,
        {
            "direction": "forward",
            "format": "first-price",
            "title": "contended block",
            "terms": {"service": "voice", "duration_s": 600},
            "currency": "EUR",
            "quantity": 2,
            "closes_at": closes.isoformat(),
        },
    )
    ex.dispose()
    return auction.id, accounts, operator.id


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(BIDDER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    """The rest of a process's output, read through the same buffered pipe it was read from."""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    return out.splitlines()


def _wait_for_first_ack(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines = []
    while line := proc.stdout.readline():
        lines.append(line.strip())
        if line.startswith("ack"):
            break
    return lines


@pytest.mark.slow
def test_processes_bid_while_others_close(migrated_database_url: str) -> None:
    auction_id, bidders, operator = _setup(migrated_database_url, 3)
    # Each bidder bids until the auction refuses it, so the close always lands mid-bidding.
    procs = [
        _spawn(migrated_database_url, auction_id, b, "0", str(1000 + 100_000 * i))
        for i, b in enumerate(bidders)
    ]
    # Close once every bidder is bidding, from two processes racing each other.
    early = [_wait_for_first_ack(p) for p in procs]
    closers = [_spawn(migrated_database_url, auction_id, operator, "close") for _ in range(2)]
    outputs = [first + _finish(p) for first, p in zip(early, procs, strict=True)]
    outputs += [_finish(p) for p in closers]
    acked = {line.split()[1] for out in outputs[:3] for line in out if line.startswith("ack")}
    refused = sum(1 for out in outputs[:3] for line in out if line.startswith("refused"))
    close_lines = [out[0] for out in outputs[3:]]

    engine = make_engine(migrated_database_url)
    with engine.connect() as conn:
        stored = {
            r.id for r in conn.execute(select(t.bids.c.id).where(t.bids.c.auction_id == auction_id))
        }
        contracts = conn.execute(
            select(func.count())
            .select_from(t.contracts)
            .where(t.contracts.c.auction_id == auction_id)
        ).scalar_one()
    # Every acknowledged bid is stored and nothing else is; each bidder was refused once closed.
    assert acked == stored
    assert refused == 3, outputs
    # Exactly one outcome: both closers report the same winners; one contract per winner.
    assert close_lines[0] == close_lines[1]
    winners = close_lines[0].removeprefix("closed ").split(",")
    assert len(winners) == 2
    assert contracts == 2
    ex = build_exchange(Settings(Path("."), migrated_database_url), migrate=False)
    auction = view(ex, auction_id, None).auction
    assert auction.status.value == "closed"
    assert auction.outcome is not None
    assert {w.bid_id for w in auction.outcome.winners} <= stored
    ex.dispose()
    # No bid after the close: every stored bid is older than the outcome.
    with engine.connect() as conn:
        latest = conn.execute(
            select(func.max(t.bids.c.created_us)).where(t.bids.c.auction_id == auction_id)
        ).scalar_one()
    closed_us = to_micros(auction.outcome.closed_at)
    assert latest <= closed_us
    engine.dispose()


@pytest.mark.slow
def test_acknowledged_bids_survive_kill_9(migrated_database_url: str) -> None:
    auction_id, bidders, _ = _setup(migrated_database_url, 1)
    proc = _spawn(migrated_database_url, auction_id, bidders[0], "100000", "100")
    assert proc.stdout is not None
    acked = []
    while len(acked) < 50 and (line := proc.stdout.readline()):
        if line.startswith("ack"):
            acked.append(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()
    assert proc.stderr is not None
    proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.wait(timeout=30)
    # Lines already written before the kill were acknowledged too.
    acked += [line.split()[1] for line in rest.splitlines() if line.startswith("ack")]
    assert proc.returncode == -signal.SIGKILL
    engine = make_engine(migrated_database_url)
    with engine.connect() as conn:
        stored = {
            r.id for r in conn.execute(select(t.bids.c.id).where(t.bids.c.auction_id == auction_id))
        }
    engine.dispose()
    assert set(acked) <= stored
    assert len(stored) - len(acked) <= 1  # at most the one in flight when the signal landed
