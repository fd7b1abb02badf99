"""Worlds the tests start from, built through the message bus: an awarded contract, and an
exchange behind the web pages with people logged in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from commex.adapters.clock import ManualClock
from commex.adapters.memory import FixedReputations
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, in_memory_services
from commex.domain.accounts import Account
from commex.server import create_server
from commex.services import commands as c
from commex.services.bus import MessageBus
from support.engine import close_due, open_auction, place_bid, register

PASSWORD = "correct horse battery"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST_HASHER = Argon2Hasher(time_cost=1, memory_kib=1024)


@dataclass(frozen=True)
class Award:
    """A contract awarded by auction: its recipient, its provider, the contract's id."""

    buyer: Account
    seller: Account
    contract_id: str


def award(
    bus: MessageBus,
    clock: ManualClock,
    price: str = "40.00",
    *,
    direction: str = "reverse",
    terms: dict[str, Any] | None = None,
    buyers: int = 1,
    names: tuple[str, str] = ("Buyer", "Seller"),
) -> Award:
    """A first-price auction won at ``price``, closed by the clock: a reverse auction of the
    buyer's won by the seller, or a forward one of the seller's won by the buyer (and, given
    ``buyers``, by as many more as blocks it sells); the first buyer's contract. Account names
    are unique, so a test with its own "Buyer" and "Seller" gives the award other ``names``."""
    buyer = register(bus, names[0], ["recipient"])
    seller = register(bus, names[1], ["provider"])
    owner, bidder = (buyer, seller) if direction == "reverse" else (seller, buyer)
    auction = open_auction(
        bus,
        owner.id,
        {
            "direction": direction,
            "format": "first-price",
            "title": "Voice",
            "terms": terms or {"service": "voice", "duration_s": 3600},
            "currency": "EUR",
            "quantity": buyers if direction == "forward" else 1,
            "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    place_bid(bus, auction.id, bidder.id, price)
    for i in range(1, buyers):
        more = register(bus, f"{names[0]} {i + 1}", ["recipient"])
        place_bid(bus, auction.id, more.id, price)
    clock.advance(3601)
    closed = close_due(bus)
    outcome = closed[0].outcome
    assert outcome is not None
    mine = next(w for w in outcome.winners if w.bidder_id == bidder.id)
    return Award(buyer, seller, mine.contract_id)


@dataclass
class WebWorld:
    """An exchange in memory behind the server's app, with a clock the test moves; people log
    in through the login form and act through their own test clients."""

    services: Services
    clock: ManualClock
    app: FastAPI
    reputations: FixedReputations | None = None  # set by hand, when the world was given one
    clients: list[TestClient] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # id of a person's browser -> name

    @property
    def bus(self) -> MessageBus:
        return self.services.bus

    def person(self, name: str, *roles: str) -> tuple[TestClient, str]:
        """A new account with a web login, logged in: its browser and its id."""
        reg = self.bus.handle(c.Register(name, roles, PASSWORD))
        client = self.browser()
        answer = client.post("/login", data={"name": name, "password": PASSWORD})
        assert answer.status_code == 303
        self.clients.append(client)
        self.names[id(client)] = name
        return client, reg.account.id

    def log_in_again(self) -> None:
        """Everyone logs in again, as people do after a session ended (an idle hour)."""
        for client in self.clients:
            data = {"name": self.names[id(client)], "password": PASSWORD}
            assert client.post("/login", data=data).status_code == 303

    def browser(self, https: bool = False) -> TestClient:
        """A browser nobody is logged in on (over https, given ``https``)."""
        base = "https://testserver" if https else "http://testserver"
        return TestClient(self.app, base_url=base, follow_redirects=False)

    def close(self) -> None:
        self.services.shutdown()


def web_world(start: datetime = START, reputations: FixedReputations | None = None) -> WebWorld:
    """The exchange in memory behind the pages; reputations as set by hand, if given."""
    clock = ManualClock(start)
    services = in_memory_services(clock=clock, hasher=FAST_HASHER, reputations=reputations)
    app = create_server(services, scheduler=False)
    return WebWorld(services, clock, app, reputations)
