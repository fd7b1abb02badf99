"""A closed deal between a logged-in seller and buyer, for page tests without a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, in_memory_services
from commex.server import create_server

PASSWORD = "correct horse battery"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Deal:
    """A closed auction's contract between a logged-in seller and buyer."""

    services: Services
    clock: ManualClock
    app: FastAPI
    seller: TestClient
    seller_id: str
    buyer: TestClient
    buyer_id: str
    contract_id: str

    @property
    def path(self) -> str:
        return f"/contracts/{self.contract_id}"

    def person(self, name: str, *roles: str) -> tuple[TestClient, str]:
        reg = self.services.auth.register(name, list(roles), PASSWORD)
        client = TestClient(self.app, follow_redirects=False)
        answer = client.post("/login", data={"name": name, "password": PASSWORD})
        assert answer.status_code == 303
        return client, reg.account.id


@contextmanager
def open_deal() -> Iterator[Deal]:
    clock = ManualClock(START)
    services = in_memory_services(clock=clock, hasher=Argon2Hasher(time_cost=1, memory_kib=1024))
    app = create_server(services, scheduler=False)
    world = Deal(services, clock, app, *_nobody(app), *_nobody(app), "")
    world.seller, world.seller_id = world.person("Northwind Carrier", "provider")
    world.buyer, world.buyer_id = world.person("Harbour Family", "recipient")
    auction = services.exchange.create_auction(
        world.seller_id,
        {
            "direction": "forward",
            "format": "english",
            "title": "Voice minutes",
            "terms": {"service": "voice", "duration_s": 3600, "max_members": 2},
            "currency": "EUR",
            "closes_at": "2026-03-01T13:00:00Z",
        },
    )
    services.exchange.place_bid(auction.id, world.buyer_id, "30.00")
    clock.advance(2 * 3600)
    services.exchange.close_due()
    (contract,) = services.exchange.contracts_of(world.buyer_id)
    world.contract_id = contract.id
    yield world
    services.shutdown()


def _nobody(app: FastAPI) -> tuple[TestClient, str]:
    return TestClient(app, follow_redirects=False), ""


def csrf_of(client: TestClient) -> str:
    page = client.get("/account")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)
