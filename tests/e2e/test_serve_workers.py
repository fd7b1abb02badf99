"""`commex serve --workers 2`: two server processes on one port and one SQLite file; every bid
sent to them at once is answered and stored once, and the auction closes once."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from serve_support import EXE, answers, free_port, wait_until

from commex.bootstrap import build_services
from commex.services.commands import Register
from commex.settings import Settings


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.slow
def test_two_workers_share_the_port_and_the_database(tmp_path: Path) -> None:
    port = free_port()
    # The 33 accounts are opened through the library first: from one address over HTTP, the
    # signup throttle would stop them after ten.
    opening = build_services(Settings(tmp_path))
    try:
        seller_token, *tokens = [
            opening.bus.handle(Register(name, (role,))).token
            for name, role in [("Seller", "provider")] + [(f"B{i}", "recipient") for i in range(32)]
        ]
    finally:
        opening.shutdown()
    env = dict(os.environ, COMMEX_DATA_DIR=str(tmp_path), COMMEX_ACCESS_LOG="0")
    env.pop("COMMEX_DATABASE_URL", None)
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or answers(f"{base}/v1/health"), "serve", 60)
        assert proc.poll() is None, "commex serve --workers 2 exited"
        wait_until(lambda: len(_children(proc.pid)) >= 2, "two worker processes", 60)
        with httpx.Client(base_url=base, timeout=30) as client:
            # Long enough for 32 bids on a warm server, short enough not to wait long.
            closes = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
            body = {
                "direction": "forward",
                "format": "first-price",
                "title": "Shared block",
                "terms": {"service": "voice", "duration_s": 60},
                "currency": "EUR",
                "closes_at": closes,
            }
            auth = {"Authorization": f"Bearer {seller_token}"}
            auction = client.post("/v1/auctions", json=body, headers=auth).json()["id"]

        def bid(i: int) -> int:
            headers = {"Authorization": f"Bearer {tokens[i]}"}
            amount = {"amount": f"{10 + i}.00"}
            return httpx.post(
                f"{base}/v1/auctions/{auction}/bids", json=amount, headers=headers, timeout=30
            ).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(bid, range(32)))
        assert codes == [201] * 32
        wait_until(
            lambda: (
                httpx.get(f"{base}/v1/auctions/{auction}", headers=auth).json()["status"]
                == "closed"
            ),
            "the close by one of the two schedulers",
            60,
        )
        shown = httpx.get(f"{base}/v1/auctions/{auction}", headers=auth).json()
        assert shown["bid_count"] == 32
        (winner,) = shown["outcome"]["winners"]  # closed once, by one of the two schedulers
        assert winner["price"] == "41.00"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
