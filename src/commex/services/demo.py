"""Demo data for a fresh exchange: a few providers and recipients with web logins, open auctions
of every format in both directions, a little history of rated contracts so reputations show, a
block shared by a family's phones and partly used, a provider's declared capacity, test cards,
and a neighbourhood group running its auction, so a first visit has something to look at."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import MessageBus

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
_VOICE = c.Terms("voice", 60_000, max_members=5)
_DATA = c.Terms(
    "data", 30 * 86400, min_rate_bps=20_000_000, max_rate_bps=100_000_000, max_members=40
)
_MEDIA = c.Terms("stream-processing", 36_000, steps=("transcode:pcmu", "dtmf"))


def seed_demo(bus: MessageBus) -> list[DemoLogin]:
    """Create the demo's accounts, history, shared block, cards, group and auctions; returns
    the logins to print."""
    logins: list[DemoLogin] = []
    ids: dict[str, str] = {}
    for name, roles in _PEOPLE:
        reg = bus.handle(c.Register(name, roles, DEMO_PASSWORD))
        ids[name] = reg.account.id
        logins.append(DemoLogin(name, roles, DEMO_PASSWORD, reg.token))
    now = bus.clock.now()
    _cards(bus, ids)
    _history(bus, ids, now + timedelta(hours=1))
    _shared_block(bus, ids)
    _billing(bus, ids, now + timedelta(hours=8))
    _auctions(bus, ids, now)
    return logins


def _auctions(bus: MessageBus, ids: dict[str, str], now: datetime) -> None:
    def closes(hours: float) -> datetime:
        return now + timedelta(hours=hours)

    def auction(owner: str, direction: str, fmt: str, title: str, terms: c.Terms,
                hours: float, **extra: Any) -> c.OpenAuction:  # fmt: skip
        base = c.OpenAuction(ids[owner], direction, fmt, title, terms, "EUR", closes(hours))
        return replace(base, **extra)

    for cmd in (
        auction("Northwind Carrier", "forward", "second-price", "3 blocks of 1,000 voice minutes",
                _VOICE, 2, quantity=3, reserve="40.00"),
        auction("Summit ISP", "forward", "english", "Fibre data for a month, 20-100 Mbit/s",
                _DATA, 1, min_increment="5.00", soft_close_s=120),
        auction("Northwind Carrier", "forward", "first-price", "Weekend voice block for a club",
                _VOICE, 6),
        auction("Riverside Community Centre", "reverse", "english",
                "30 days of data for the centre, at least 20 Mbit/s", _DATA, 3,
                reserve="500.00", min_increment="5.00", soft_close_s=120),
        auction("Harbour Family", "reverse", "second-price", "Family phone minutes, 5 phones",
                _VOICE, 4, reserve="60.00", reputation_weight="0.3"),
        auction("Bayview Dental", "reverse", "first-price",
                "Transcode and detect keypresses on calls", _MEDIA, 5, reserve="90.00"),
    ):  # fmt: skip
        bus.handle(cmd)


def _history(bus: MessageBus, ids: dict[str, str], closes_at: datetime) -> None:
    """A finished sale, closed early by the exchange's operator, rated by both sides."""
    operator = bus.handle(c.Register("Exchange Operator", ("operator",), operator=True)).account
    sale = bus.handle(
        c.OpenAuction(
            ids["Northwind Carrier"], "forward", "first-price", "Last month's voice minutes",
            c.Terms("voice", 30_000, max_members=3), "EUR", closes_at, quantity=2,
        )
    ).auction  # fmt: skip
    bus.handle(c.PlaceBid(sale.id, ids["Harbour Family"], "35.00"))
    bus.handle(c.PlaceBid(sale.id, ids["Riverside Community Centre"], "33.50"))
    bus.handle(c.CloseAuction(sale.id, operator.id, "demo history: an earlier sale"))
    bus.handle(c.ChargeDue())  # paid: only a paid contract's ratings count
    for contract in bus.handle(q.MyContracts(ids["Northwind Carrier"])):
        bus.handle(
            c.Rate(contract.id, True, 5, "Clear calls all month.", account_id=contract.recipient_id)
        )
        bus.handle(c.Rate(contract.id, True, account_id=contract.provider_id))


def _shared_block(bus: MessageBus, ids: dict[str, str]) -> None:
    """The family's block from the earlier sale, shared by two numbers and a softphone, partly
    used; and Summit ISP's capacity, which its data auction counts against."""
    family = ids["Harbour Family"]
    bus.handle(c.SetCapacity(ids["Summit ISP"], 1_000_000_000))
    (contract,) = [x for x in bus.handle(q.MyContracts(family)) if x.recipient_id == family]
    phone = bus.handle(c.RegisterDevice(family, "Kitchen phone", "Ann", ("+14155550123",)))
    members = [
        bus.handle(c.AddMember(contract.id, family, device_id=phone.device.id)),
        bus.handle(c.AddMember(contract.id, family, phone_number="+14155550124")),
        bus.handle(c.AddMember(contract.id, family, phone_number="+14155550125")),
    ]
    for member, seconds in zip(members, ("1260", "845.5", "3120"), strict=True):
        bus.handle(c.ReportUsage(contract.id, c.Caller(family), member.id, seconds, 2_000_000))


def _cards(bus: MessageBus, ids: dict[str, str]) -> None:
    """Test cards for two recipients (the built-in gateway's numbers: no money moves)."""
    year = bus.clock.now().year + 3
    bus.handle(c.AddCard(ids["Harbour Family"], "4242 4242 4242 4242", 12, year, "123"))
    bus.handle(c.AddCard(ids["Riverside Community Centre"], "5555 5555 5555 4444", 6, year, "456"))


def _billing(bus: MessageBus, ids: dict[str, str], closes_at: datetime) -> None:
    """A neighbourhood group with two payers and a sponsored member running its reverse
    auction."""
    centre, family = ids["Riverside Community Centre"], ids["Harbour Family"]
    dental = ids["Bayview Dental"]
    group = bus.handle(
        c.CreateGroup(centre, "Riverside neighbours", "EUR", "proportional", "60.00")
    )
    gid = group.group.id
    for invitee in (family, dental):
        bus.handle(c.InviteToGroup(gid, centre, invitee))
    bus.handle(c.AnswerGroup(gid, family, "payer", "40.00"))
    bus.handle(c.AnswerGroup(gid, dental, "non-payer"))
    bus.handle(c.Sponsor(gid, family, (dental,)))
    bus.handle(
        c.OpenGroupAuction(
            gid, centre, "first-price", "Shared data for the neighbours, at least 10 Mbit/s",
            c.Terms("data", 30 * 86400, min_rate_bps=10_000_000), closes_at,
        )
    )  # fmt: skip
