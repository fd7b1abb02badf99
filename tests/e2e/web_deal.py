"""A closed deal between a logged-in seller and buyer, for page tests without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from commex.services.commands import AddCard, ChargeDue
from support.engine import close_due, contracts_of, open_auction, place_bid
from support.pages import csrf_of
from support.worlds import PASSWORD, START, WebWorld, web_world

__all__ = ["PASSWORD", "START", "Deal", "csrf_of", "open_deal"]


class Deal:
    """A closed auction's contract between a logged-in seller and buyer, in a web world;
    charged on the buyer's card when ``paid`` (only a paid contract's ratings carry weight)."""

    def __init__(
        self, world: WebWorld, paid: bool = False, min_rate_bps: int | None = None
    ) -> None:
        self.world = world
        self.services, self.clock, self.app, self.bus = (
            world.services,
            world.clock,
            world.app,
            world.bus,
        )
        self.person = world.person
        self.seller, self.seller_id = world.person("Northwind Carrier", "provider")
        self.buyer, self.buyer_id = world.person("Harbour Family", "recipient")
        auction = open_auction(
            self.bus,
            self.seller_id,
            {
                "direction": "forward",
                "format": "english",
                "title": "Voice minutes",
                "terms": {"service": "voice", "duration_s": 3600, "max_members": 2}
                | ({} if min_rate_bps is None else {"min_rate_bps": min_rate_bps}),
                "currency": "EUR",
                "closes_at": "2026-03-01T13:00:00Z",
            },
        )
        if paid:
            card = AddCard(self.buyer_id, "4242424242424242", 12, START.year + 2, "123")
            self.bus.handle(card)
        place_bid(self.bus, auction.id, self.buyer_id, "30.00")
        self.clock.advance(2 * 3600)
        close_due(self.bus)
        if paid:
            self.bus.handle(ChargeDue())
        world.log_in_again()  # two hours on, the sessions have ended (an idle hour)
        (contract,) = contracts_of(self.bus, self.buyer_id)
        self.contract_id = contract.id

    @property
    def path(self) -> str:
        return f"/contracts/{self.contract_id}"


@contextmanager
def open_deal(paid: bool = False, min_rate_bps: int | None = None) -> Iterator[Deal]:
    world = web_world(START)
    try:
        yield Deal(world, paid, min_rate_bps)
    finally:
        world.close()
