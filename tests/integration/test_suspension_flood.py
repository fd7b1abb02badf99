"""A suspension stops a bidding client mid-flood, against a real server on SQLite and
PostgreSQL: a client bids in a loop; the operator suspends it; every bid the client sends
after the suspension was answered is refused 403 ``account_suspended``, and no bid of it is
stored from the moment of the suspension on (the ones before it are withdrawn)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services
from commex.services.commands import Register
from commex.settings import Settings
from support.engine import open_auction
from support.net import wait_until
from support.serving import serving


@dataclass(frozen=True)
class Sent:
    """One bid of the flood: when it was sent and answered (monotonic), and the answer."""

    sent: float
    answered: float
    status: int
    code: str


@pytest.fixture
def services(migrated_database_url: str) -> Iterator[Services]:
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    s = build_services(Settings(Path("."), migrated_database_url), hasher=hasher)
    try:
        yield s
    finally:
        s.shutdown()


def _flood(url: str, auction_id: str, token: str, stop: threading.Event, out: list[Sent]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        n = 0
        while not stop.is_set():
            n += 1
            sent = time.monotonic()
            r = client.post(f"/v1/auctions/{auction_id}/bids", json={"amount": f"{n}.00"})
            code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
            out.append(Sent(sent, time.monotonic(), r.status_code, code))


def test_a_suspension_stops_a_bidding_client_mid_flood(services: Services) -> None:
    bus = services.bus
    seller = bus.handle(Register("Seller", ("provider",))).account
    flooder = bus.handle(Register("Flooder", ("recipient",)))
    operator = bus.handle(Register("Op", ("operator",), operator=True))
    closes = datetime.now(UTC) + timedelta(hours=1)
    auction = open_auction(
        bus,
        seller.id,
        {
            "direction": "forward", "format": "first-price", "title": "Voice",
            "terms": {"service": "voice", "duration_s": 60}, "currency": "EUR",
            "closes_at": closes.isoformat(),
        },
    )  # fmt: skip
    sent: list[Sent] = []
    stop = threading.Event()
    with serving(services, scheduler=False) as url:
        client = threading.Thread(
            target=_flood, args=(url, auction.id, flooder.token, stop, sent), daemon=True
        )
        client.start()
        try:
            wait_until(lambda: sum(s.status == 201 for s in sent) >= 20, "20 accepted bids", 60)
            r = httpx.post(
                f"{url}/v1/accounts/{flooder.account.id}/suspension",
                headers={"Authorization": f"Bearer {operator.token}"},
                json={"reason": "bid flooding"},
                timeout=10,
            )
            answered = time.monotonic()
            assert r.status_code == 200, r.text
            suspended_at = datetime.fromisoformat(r.json()["suspended_at"])
            wait_until(lambda: sum(s.sent > answered for s in sent) >= 20, "20 more bids", 60)
        finally:
            stop.set()
            client.join(15)

    after = [s for s in sent if s.sent > answered]
    assert {(s.status, s.code) for s in after} == {(403, "account_suspended")}
    assert all(s.status in (201, 403) for s in sent), {s.status for s in sent}
    with bus.unit_of_work(write=False) as uow:
        stored = uow.auctions.bids(auction.id, flooder.account.id)
        state = uow.auctions.get(auction.id)
    assert stored and all(b.created_at < suspended_at for b in stored)
    assert not any(b.active for b in stored)  # the bids before it are withdrawn
    assert state is not None and state.bid_count == 0
