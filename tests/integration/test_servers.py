"""Several `commex serve` processes on one PostgreSQL database close each auction once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from commex.adapters.passwords import Argon2Hasher
from commex.adapters.sql import tables as t
from commex.adapters.sql.engine import make_engine
from commex.bootstrap import build_services
from commex.services.commands import Register
from commex.settings import Settings
from support.engine import view


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[list[str]]:
    env = dict(os.environ, COMMEX_DATABASE_URL=postgres_url, COMMEX_DATA_DIR=str(tmp_path))
    exe = str(Path(sys.executable).with_name("commex"))
    ports = [_port(), _port()]
    procs = [
        subprocess.Popen(
            [exe, "serve", "--port", str(p)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the servers did not start"
                time.sleep(0.1)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.mark.slow
def test_two_servers_close_each_auction_exactly_once(postgres_url: str, servers: list[str]) -> None:
    services = build_services(
        Settings(Path("."), postgres_url), hasher=Argon2Hasher(time_cost=1, memory_kib=1024)
    )
    seller = services.bus.handle(Register("Seller", ("provider",)))
    buyers = [services.bus.handle(Register(f"Buyer {i}", ("recipient",))) for i in range(3)]
    closes = datetime.now(UTC) + timedelta(seconds=5)
    auction_ids = []
    for i in range(4):
        created = httpx.post(
            f"{servers[i % 2]}/v1/auctions",
            headers={"Authorization": f"Bearer {seller.token}"},
            json={
                "direction": "forward",
                "format": "second-price",
                "title": f"block {i}",
                "terms": {"service": "voice", "duration_s": 600},
                "currency": "EUR",
                "quantity": 2,
                "closes_at": closes.isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        auction_ids.append(created.json()["id"])
        for j, buyer in enumerate(buyers):
            bid = httpx.post(
                f"{servers[j % 2]}/v1/auctions/{auction_ids[-1]}/bids",
                headers={"Authorization": f"Bearer {buyer.token}"},
                json={"amount": f"{10 + j}.00"},
            )
            assert bid.status_code == 201, bid.text
    # Both servers' schedulers race to close; wait (bounded) until every auction is closed.
    deadline = time.monotonic() + 60
    while True:
        statuses = {view(services.bus, a, None).auction.status.value for a in auction_ids}
        if statuses == {"closed"}:
            break
        assert time.monotonic() < deadline, f"auctions not closed: {statuses}"
        time.sleep(0.2)
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        for auction_id in auction_ids:
            contracts = conn.execute(
                select(func.count())
                .select_from(t.contracts)
                .where(t.contracts.c.auction_id == auction_id)
            ).scalar_one()
            outcome = view(services.bus, auction_id, None).auction.outcome
            assert outcome is not None and outcome.closed_by is None  # the scheduler closed it
            assert contracts == len(outcome.winners) == 2
            assert {str(w.price) for w in outcome.winners} == {"10.00"}
    engine.dispose()
    services.shutdown()
