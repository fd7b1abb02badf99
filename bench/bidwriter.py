"""The bid writer's wire alone: what it costs to hand a bid from an HTTP worker to the writer
process of ``commex serve --workers N`` and to bring its answer back, without the database or
HTTP around it.

A :class:`~commex.adapters.bidwriter.server.WriterServer` runs in a process of its own over an
instant desk (it answers the bids of each turn of its loop together, as a group commit does,
with one placed bid); this process sends bids through
:class:`~commex.adapters.bidwriter.client.RemoteBidDesk`, 32 in flight, and encodes each answer
as the HTTP fast path does. Reported: CPU time per bid of each side and wall time per bid,
beside the same-run baseline of the same bids handed to the same instant desk in this process
(what one server process pays without the wire).

Run: ``python -m bench bidwriter`` (or ``python -m bench.bidwriter [--bids N] [--rounds N]``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop

from commex.adapters.bidwriter.client import RemoteBidDesk
from commex.adapters.bidwriter.server import WriterServer
from commex.api.wire.auctions import placed_bid_json
from commex.domain.accounts import Role
from commex.domain.auctions import Bid
from commex.domain.money import Money
from commex.domain.reputation import Reputation
from commex.domain.service_level import ServiceLevel
from commex.services.commands import PlaceBid
from commex.services.request_context import request_id_bound
from commex.services.results import BidView, Party, PlacedBid

SECRET = b"b" * 64
IN_FLIGHT = 32
TURN_S = 0.0005  # the instant desk's "batch": the bids of half a millisecond together
COMMAND = PlaceBid("auc_0123456789abcdef0123", "acc_0123456789abcdef0123", "12.50", None, None)


def placed_bid() -> PlacedBid:
    """A placed bid as the desk answers one: a bidder with ratings and a service level."""
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, UTC)
    bid = Bid(
        "bid_0123456789abcdef0123", COMMAND.auction_id, COMMAND.bidder_id,
        Money(Decimal("12.50"), "EUR"), None, 7, when, proxy=False, active=True,
    )  # fmt: skip
    rep = Reputation(3.25, 0.5, 4, 365, ServiceLevel(5, 1, 60_000, 1_500))
    party = Party(COMMAND.bidder_id, "Bench Bidder", Role.RECIPIENT, rep, when, 3)
    return PlacedBid(BidView(bid, party, None, None), Role.RECIPIENT)


class InstantDesk:
    """Answers the bids queued within :data:`TURN_S` together, each with the same placed bid."""

    def __init__(self) -> None:
        self._placed = placed_bid()
        self._queued: list[asyncio.Future[PlacedBid]] = []

    def submit_on_loop(self, cmd: PlaceBid) -> asyncio.Future[PlacedBid]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PlacedBid] = loop.create_future()
        if not self._queued:
            loop.call_later(TURN_S, self._answer)
        self._queued.append(future)
        return future

    def _answer(self) -> None:
        queued, self._queued = self._queued, []
        for future in queued:
            future.set_result(self._placed)


def _serve(path: Path, ready: Any) -> None:
    async def serving() -> None:
        server = WriterServer(InstantDesk(), path, SECRET, placed_bid_json)
        await server.start()
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(serving())


async def _send(
    bids: int, submit: Callable[[PlaceBid], Coroutine[Any, Any, PlacedBid] | asyncio.Future[Any]]
) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with gate:
            with request_id_bound("0" * 32):
                placed = await submit(COMMAND)
            placed_bid_json(placed)

    await asyncio.gather(*(one() for _ in range(bids)))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(bids: int) -> dict[str, float]:
    """One round: us per bid of the worker's side, the writer's side and the wall clock, and
    the worker's side with the desk in its own process (the baseline)."""
    with tempfile.TemporaryDirectory(prefix="commex-bench-writer-") as tmp:
        path = Path(tmp) / "bids.sock"
        context = multiprocessing.get_context("fork")
        ready = context.Event()
        writer = context.Process(target=_serve, args=(path, ready), daemon=True)
        writer.start()
        pid = writer.pid or 0
        try:
            if not ready.wait(30):
                raise RuntimeError("the writer did not start")
            remote = RemoteBidDesk(path, SECRET)
            uvloop.run(_send(min(bids, 2000), remote.submit_on_loop))  # warm-up
            cpu, theirs, wall = time.process_time(), _cpu_seconds(pid), time.perf_counter()
            uvloop.run(_send(bids, remote.submit_on_loop))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            theirs = _cpu_seconds(pid) - theirs
        finally:
            writer.kill()
            writer.join()
    local = InstantDesk()
    base = time.process_time()
    uvloop.run(_send(bids, local.submit_on_loop))
    base = time.process_time() - base
    per = 1e6 / bids
    return {"worker": cpu * per, "writer": theirs * per, "wall": wall * per, "one": base * per}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids", type=int, default=20_000, help="bids per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    rounds = [measure(args.bids) for _ in range(args.rounds)]
    print(f"{args.bids} bids, {IN_FLIGHT} in flight, median of {args.rounds} rounds (us per bid):")
    for key, label in (
        ("one", "worker's CPU, desk in its own process (baseline)"),
        ("worker", "worker's CPU, through the writer's socket"),
        ("writer", "writer's CPU"),
        ("wall", "wall clock"),
    ):
        print(f"  {label:50} {statistics.median(r[key] for r in rounds):7.1f}")
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main(sys.argv[1:])
