"""Short ways for tests to drive the engine through its message bus: each builds one command or
query (or a few) and answers what a test looks at. Auction requests may be written as the API's
JSON bodies (``terms`` and ``eligibility`` as dicts); unknown fields fail as they would in
Python, naming the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pytest

from commex.api.wire.auctions import auction as auction_wire
from commex.domain.accounts import Account
from commex.domain.auctions import Auction, Bid
from commex.domain.contracts import Contract
from commex.domain.members import Member
from commex.domain.ratings import Rating
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import MessageBus
from commex.services.results import AuctionSummary, AuctionView

E = TypeVar("E", bound=BaseException)


def auction_request(**kw: Any) -> dict[str, Any]:
    """A forward first-price auction's request as the API takes it, changed by ``kw`` (a value
    of ``...`` leaves the field out)."""
    base: dict[str, Any] = {
        "direction": "forward",
        "format": "first-price",
        "title": "1000 minutes of voice",
        "terms": {"service": "voice", "duration_s": 60000},
        "currency": "EUR",
        "closes_at": "2026-03-01T13:00:00Z",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


def error_of(cls: type[E], fn: Callable[..., Any], *args: Any, **kw: Any) -> E:
    """The error of type ``cls`` that ``fn(*args, **kw)`` raises (failing if it raises none)."""
    with pytest.raises(cls) as err:
        fn(*args, **kw)
    return err.value


def register(
    bus: MessageBus,
    name: str,
    roles: Sequence[str],
    password: str | None = None,
    *,
    allow_operator: bool = False,
    owner: str | None = None,
) -> Account:
    cmd = c.Register(name, tuple(roles), password, operator=allow_operator, owner_id=owner)
    return bus.handle(cmd).account


def account(bus: MessageBus, account_id: str) -> Account:
    return bus.handle(q.ShowAccount(account_id)).account


def terms_of(data: Mapping[str, Any] | c.Terms) -> c.Terms:
    if isinstance(data, c.Terms):
        return data
    fields = dict(data)
    if "steps" in fields:
        fields["steps"] = tuple(fields["steps"] or ())
    return c.Terms(**fields)


def auction_command(owner_id: str, request: Mapping[str, Any]) -> c.OpenAuction:
    """The OpenAuction command of a ``POST /v1/auctions`` body."""
    fields = dict(request)
    if isinstance(fields.get("terms"), Mapping):
        fields["terms"] = terms_of(fields["terms"])
    eligibility = fields.get("eligibility")
    if isinstance(eligibility, Mapping):
        e = dict(eligibility)
        if "approved_providers" in e:
            e["approved_providers"] = tuple(e["approved_providers"] or ())
        fields["eligibility"] = c.Eligibility(**e)
    for name in ("direction", "format", "title", "terms", "currency", "closes_at"):
        fields.setdefault(name, None)
    return c.OpenAuction(owner_id=owner_id, **fields)


def open_auction(bus: MessageBus, owner_id: str, request: Mapping[str, Any]) -> Auction:
    return bus.handle(auction_command(owner_id, request)).auction


def open_group_auction(
    bus: MessageBus, group_id: str, caller_id: str, request: Mapping[str, Any]
) -> Auction:
    """The group's reverse auction from a ``POST /v1/groups/{id}/auctions`` body."""
    fields = dict(request)
    fields["terms"] = terms_of(fields["terms"])
    return bus.handle(c.OpenGroupAuction(group_id, caller_id, **fields)).auction


def members(bus: MessageBus, contract_id: str, caller_id: str) -> list[Member]:
    """The contract's current members, as one of its parties sees them."""
    return list(bus.handle(q.ShowContract(contract_id, c.Caller(caller_id))).members)


def ratings(bus: MessageBus, contract_id: str, caller_id: str) -> list[Rating]:
    """The contract's ratings, as one of its parties sees them."""
    return list(bus.handle(q.ShowContract(contract_id, c.Caller(caller_id))).ratings)


def place_bid(
    bus: MessageBus,
    auction_id: str,
    bidder_id: str,
    amount: Any,
    max_amount: Any = None,
    idempotency_key: str | None = None,
) -> Bid:
    cmd = c.PlaceBid(auction_id, bidder_id, amount, max_amount, idempotency_key)
    return bus.handle(cmd).bid


def close(
    bus: MessageBus, auction_id: str, by_id: str | None, reason: str | None = None
) -> Auction:
    return bus.handle(c.CloseAuction(auction_id, by_id, reason)).auction


def cancel(bus: MessageBus, auction_id: str, by_id: str, reason: str | None = None) -> Auction:
    return bus.handle(c.CancelAuction(auction_id, by_id, reason)).auction


def close_due(bus: MessageBus, limit: int = 100) -> list[Auction]:
    return bus.handle(c.CloseDue(limit))


def start_due(bus: MessageBus, limit: int = 100) -> list[Contract]:
    return bus.handle(c.StartDue(limit))


def view(bus: MessageBus, auction_id: str, viewer_id: str | None) -> AuctionView:
    return bus.handle(q.ShowAuction(auction_id, viewer_id))


def wire(bus: MessageBus, auction_id: str, viewer_id: str | None) -> dict[str, Any]:
    """The auction as the API would answer the viewer."""
    return auction_wire(view(bus, auction_id, viewer_id))


def auctions(
    bus: MessageBus, status: Any = None, limit: int = 100, offset: int = 0
) -> list[AuctionSummary]:
    return bus.handle(q.ListAuctions(status, limit, offset))


def contracts_of(bus: MessageBus, account_id: str) -> list[Contract]:
    return bus.handle(q.MyContracts(account_id))


def contract(bus: MessageBus, contract_id: str, viewer_id: str) -> Contract:
    return bus.handle(q.PartyContract(contract_id, viewer_id))
