"""`commex demo`: a short, readable story of a forward and a reverse auction, run on the database
(COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR), so it needs access to the database file."""

from __future__ import annotations

from datetime import timedelta

import typer

from commex.adapters.clock import ManualClock, SystemClock
from commex.api.wire.auctions import auction
from commex.bootstrap import build_exchange
from commex.cli.auctions import print_auction
from commex.cli.common import console, handle_errors
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import MessageBus
from commex.settings import Settings

app = typer.Typer(help="Run a short demo of a forward and a reverse auction (database file).")


@app.callback(invoke_without_command=True)
@handle_errors
def demo() -> None:
    """Two auctions from opening to award, printed as they happen. Uses a simulated clock so
    the auctions close at once; the data stays in the database for `commex auction list`."""
    settings = Settings.from_env()
    clock = ManualClock(SystemClock().now())
    bus = build_exchange(settings, clock=clock)
    console.rule("[bold]commex demo")
    console.print(f"database: {settings.url()}\n")
    people = {}
    for name, role in (
        ("Northwind Carrier", "provider"),
        ("Summit ISP", "provider"),
        ("Harbour Family", "recipient"),
        ("Riverside Community Centre", "recipient"),
        ("Bayview Dental", "recipient"),
    ):
        people[name] = bus.handle(c.Register(name, (role,))).account.id
    console.print(
        "Providers: Northwind Carrier, Summit ISP. "
        "Recipients: Harbour Family, Riverside Community Centre, Bayview Dental.\n"
    )
    _forward(bus, clock, people)
    _reverse(bus, clock, people)
    bus.dispose()
    console.print(
        "\nTry: [bold]commex serve[/], then [bold]commex auction list[/] with a token "
        "(see [bold]commex login --help[/]), or [bold]commex --help[/]"
    )


def _forward(bus: MessageBus, clock: ManualClock, people: dict[str, str]) -> None:
    console.rule("Forward auction: Northwind sells 2 blocks of 1,000 voice minutes")
    fwd = bus.handle(
        c.OpenAuction(
            people["Northwind Carrier"], "forward", "second-price",
            "1,000 voice minutes, shareable by 5 phones", c.Terms("voice", 60_000, max_members=5),
            "EUR", clock.now() + timedelta(minutes=10), quantity=2, reserve="40.00",
        )
    ).auction  # fmt: skip
    for who, amount in (
        ("Harbour Family", "55.00"),
        ("Riverside Community Centre", "48.50"),
        ("Bayview Dental", "61.25"),
    ):
        bus.handle(c.PlaceBid(fwd.id, people[who], amount))
        console.print(f"  {who} bids {amount} EUR (sealed: nobody else sees it)")
    clock.advance(601)
    bus.handle(c.CloseDue())
    console.print("\nAfter the close, the outcome is public. Both winners pay the best losing bid:")
    print_auction(auction(bus.handle(q.ShowAuction(fwd.id, None))), False)


def _reverse(bus: MessageBus, clock: ManualClock, people: dict[str, str]) -> None:
    console.rule("Reverse auction: Riverside buys 30 days of data, providers bid down")
    data = c.Terms(
        "data", 30 * 86400, min_rate_bps=20_000_000, max_rate_bps=100_000_000, max_members=40
    )
    rev = bus.handle(
        c.OpenAuction(
            people["Riverside Community Centre"], "reverse", "english",
            "30 days of data for the centre, at least 20 Mbit/s", data, "EUR",
            clock.now() + timedelta(minutes=10), reserve="500.00", min_increment="5.00",
            soft_close_s=120,
        )
    ).auction  # fmt: skip
    bus.handle(c.PlaceBid(rev.id, people["Northwind Carrier"], "480.00", "400.00"))
    console.print("  Northwind bids 480.00 EUR and lets the exchange go down to 400.00 for it")
    clock.advance(540)
    bus.handle(c.PlaceBid(rev.id, people["Summit ISP"], "450.00", "420.00"))
    console.print(
        "  Summit bids 450.00 (limit 420.00) in the last two minutes: the soft close "
        "moves the close out"
    )
    view = bus.handle(q.ShowAuction(rev.id, None))
    leader = view.leader.name if view.leader else "-"
    console.print(f"  standing bid now {view.standing_price} EUR by {leader}")
    clock.advance(180)
    bus.handle(c.CloseDue())
    print_auction(auction(bus.handle(q.ShowAuction(rev.id, None))), False)
