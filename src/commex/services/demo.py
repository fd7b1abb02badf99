"""Demo data for a fresh exchange: a few providers and recipients with web logins, and open
auctions of every format in both directions, so a first visit has something to look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from commex.services.auth import Auth
from commex.services.exchange import Exchange
from commex.services.groups import Groups
from commex.services.payments import PaymentMethods
from commex.services.ratings import Ratings
from commex.services.usage import Caller, Usage

DEMO_PASSWORD = "commex-demo-password"  # noqa: S105 - printed for the demo on purpose


@dataclass(frozen=True, slots=True)
class DemoLogin:
    name: str
    roles: tuple[str, ...]
    password: str
    token: str


_PEOPLE = (
    ("Northwind Carrier", ("provider",)),
    ("Summit ISP", ("provider",)),
    ("Harbour Family", ("recipient",)),
    ("Riverside Community Centre", ("recipient",)),
    ("Bayview Dental", ("recipient", "provider")),
)


def seed_demo(
    exchange: Exchange,
    auth: Auth,
    ratings: Ratings | None = None,
    usage: Usage | None = None,
    billing: tuple[Groups, PaymentMethods] | None = None,
) -> list[DemoLogin]:
    """Create the demo accounts and auctions (and, given ``ratings``, a little history of rated
    contracts so reputations show; given ``usage`` too, a block shared by a family's phones and
    partly used, and a provider's declared capacity; given ``billing``, test cards and a
    neighbourhood group running its auction); returns the logins to print."""
    logins: list[DemoLogin] = []
    ids: dict[str, str] = {}
    for name, roles in _PEOPLE:
        reg = auth.register(name, roles, DEMO_PASSWORD)
        ids[name] = reg.account.id
        logins.append(DemoLogin(name, roles, DEMO_PASSWORD, reg.token))
    now = exchange.clock.now()

    def closes(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat()

    voice: dict[str, Any] = {"service": "voice", "duration_s": 60_000, "max_members": 5}
    data: dict[str, Any] = {
        "service": "data",
        "duration_s": 30 * 86400,
        "min_rate_bps": 20_000_000,
        "max_rate_bps": 100_000_000,
        "max_members": 40,
    }
    media: dict[str, Any] = {
        "service": "stream-processing",
        "duration_s": 36_000,
        "steps": ["transcode:pcmu", "dtmf"],
    }
    auctions: list[tuple[str, str, str, str, dict[str, Any], dict[str, Any], float]] = [
        ("Northwind Carrier", "forward", "second-price", "3 blocks of 1,000 voice minutes",
         voice, {"quantity": 3, "reserve": "40.00"}, 2),
        ("Summit ISP", "forward", "english", "Fibre data for a month, 20-100 Mbit/s",
         data, {"min_increment": "5.00", "soft_close_s": 120}, 1),
        ("Northwind Carrier", "forward", "first-price", "Weekend voice block for a club",
         voice, {}, 6),
        ("Riverside Community Centre", "reverse", "english",
         "30 days of data for the centre, at least 20 Mbit/s", data,
         {"reserve": "500.00", "min_increment": "5.00", "soft_close_s": 120}, 3),
        ("Harbour Family", "reverse", "second-price", "Family phone minutes, 5 phones",
         voice, {"reserve": "60.00", "reputation_weight": "0.3"}, 4),
        ("Bayview Dental", "reverse", "first-price", "Transcode and detect keypresses on calls",
         media, {"reserve": "90.00"}, 5),
    ]  # fmt: skip
    if ratings is not None:
        _history(exchange, auth, ratings, ids, closes(1))
        if usage is not None:
            _shared_block(exchange, ratings, usage, ids)
    if billing is not None:
        _billing(exchange, *billing, ids, closes(8))
    for owner, direction, fmt, title, terms, extra, hours in auctions:
        exchange.create_auction(
            ids[owner],
            {
                "direction": direction,
                "format": fmt,
                "title": title,
                "terms": terms,
                "currency": "EUR",
                "closes_at": closes(hours),
                **extra,
            },
        )
    return logins


def _history(
    exchange: Exchange, auth: Auth, ratings: Ratings, ids: dict[str, str], closes_at: str
) -> None:
    """A finished sale, closed early by the exchange's operator, rated by both sides."""
    operator = auth.register("Exchange Operator", ["operator"], operator=True).account
    sale = exchange.create_auction(
        ids["Northwind Carrier"],
        {
            "direction": "forward",
            "format": "first-price",
            "title": "Last month's voice minutes",
            "terms": {"service": "voice", "duration_s": 30_000, "max_members": 3},
            "currency": "EUR",
            "quantity": 2,
            "closes_at": closes_at,
        },
    )
    exchange.place_bid(sale.id, ids["Harbour Family"], "35.00")
    exchange.place_bid(sale.id, ids["Riverside Community Centre"], "33.50")
    exchange.close(sale.id, operator.id, "demo history: an earlier sale")
    for contract in exchange.contracts_of(ids["Northwind Carrier"]):
        ratings.rate(
            contract.id, account_id=contract.recipient_id, satisfied=True, score=5,
            comment="Clear calls all month.",
        )  # fmt: skip
        ratings.rate(contract.id, account_id=contract.provider_id, satisfied=True)


def _shared_block(exchange: Exchange, ratings: Ratings, usage: Usage, ids: dict[str, str]) -> None:
    """The family's block from the earlier sale, shared by two numbers and a softphone, partly
    used; and Summit ISP's capacity, which its data auction counts against."""
    family = ids["Harbour Family"]
    usage.set_capacity(ids["Summit ISP"], 1_000_000_000)
    (contract,) = [c for c in exchange.contracts_of(family) if c.recipient_id == family]
    phone = ratings.register_device(family, "Kitchen phone", "Ann", ["+14155550123"]).device
    members = [
        ratings.add_member(contract.id, family, device_id=phone.id),
        ratings.add_member(contract.id, family, phone_number="+14155550124"),
        ratings.add_member(contract.id, family, phone_number="+14155550125"),
    ]
    for member, seconds in zip(members, ("1260", "845.5", "3120"), strict=True):
        usage.report(contract.id, Caller(family), member.id, seconds, 2_000_000)


def _billing(
    exchange: Exchange,
    groups: Groups,
    payments: PaymentMethods,
    ids: dict[str, str],
    closes_at: str,
) -> None:
    """Test cards for two recipients (the built-in gateway's numbers: no money moves), and a
    neighbourhood group with two payers and a sponsored member running its reverse auction."""
    payments.add(ids["Harbour Family"], "4242 4242 4242 4242", 12, _card_year(exchange), "123")
    payments.add(
        ids["Riverside Community Centre"], "5555 5555 5555 4444", 6, _card_year(exchange), "456"
    )
    centre, family, dental = (
        ids["Riverside Community Centre"],
        ids["Harbour Family"],
        ids["Bayview Dental"],
    )
    group = groups.create(centre, "Riverside neighbours", "EUR", "proportional", "60.00").group
    for invitee in (family, dental):
        groups.invite(group.id, centre, invitee)
    groups.answer(group.id, family, "payer", "40.00")
    groups.answer(group.id, dental, "non-payer", None)
    groups.sponsor(group.id, family, [dental])
    groups.open_auction(
        group.id,
        centre,
        {
            "format": "first-price",
            "title": "Shared data for the neighbours, at least 10 Mbit/s",
            "terms": {"service": "data", "duration_s": 30 * 86400, "min_rate_bps": 10_000_000},
            "closes_at": closes_at,
        },
    )


def _card_year(exchange: Exchange) -> int:
    return exchange.clock.now().year + 3
