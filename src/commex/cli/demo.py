"""`commex demo`: a short, readable story of a forward and a reverse auction on the database."""

from __future__ import annotations

from datetime import timedelta

import typer

from commex.adapters.clock import ManualClock, SystemClock
from commex.bootstrap import build_exchange
from commex.cli.auctions import _print_view
from commex.cli.common import console, handle_errors
from commex.settings import Settings

app = typer.Typer(help="Run a short demo of a forward and a reverse auction.")


@app.callback(invoke_without_command=True)
@handle_errors
def demo() -> None:
    """Two auctions from opening to award, printed as they happen. Uses a simulated clock so
    the auctions close at once; the data stays in the database for `commex auction list`."""
    settings = Settings.from_env()
    clock = ManualClock(SystemClock().now())
    ex = build_exchange(settings, clock=clock)
    console.rule("[bold]commex demo")
    console.print(f"database: {settings.url()}\n")

    northwind = ex.create_account("Northwind Carrier", ["provider"])
    summit = ex.create_account("Summit ISP", ["provider"])
    harbour = ex.create_account("Harbour Family", ["recipient"])
    riverside = ex.create_account("Riverside Community Centre", ["recipient"])
    bayview = ex.create_account("Bayview Dental", ["recipient"])
    console.print(
        "Providers: Northwind Carrier, Summit ISP. "
        "Recipients: Harbour Family, Riverside Community Centre, Bayview Dental.\n"
    )

    console.rule("Forward auction: Northwind sells 2 blocks of 1,000 voice minutes")
    closes = clock.now() + timedelta(minutes=10)
    fwd = ex.create_auction(
        northwind.id,
        {
            "direction": "forward",
            "format": "second-price",
            "title": "1,000 voice minutes, shareable by 5 phones",
            "terms": {"service": "voice", "duration_s": 60_000, "max_members": 5},
            "currency": "EUR",
            "quantity": 2,
            "reserve": "40.00",
            "closes_at": closes.isoformat(),
        },
    )
    for who, amount in ((harbour, "55.00"), (riverside, "48.50"), (bayview, "61.25")):
        ex.place_bid(fwd.id, who.id, amount)
        console.print(f"  {who.name} bids {amount} EUR (sealed: nobody else sees it)")
    clock.advance(601)
    ex.close_due()
    console.print("\nAfter the close, the outcome is public. Both winners pay the best losing bid:")
    _print_view(ex.view(fwd.id, None), False)

    console.rule("Reverse auction: Riverside buys 30 days of data, providers bid down")
    rev = ex.create_auction(
        riverside.id,
        {
            "direction": "reverse",
            "format": "english",
            "title": "30 days of data for the centre, at least 20 Mbit/s",
            "terms": {
                "service": "data",
                "duration_s": 30 * 86400,
                "min_rate_bps": 20_000_000,
                "max_rate_bps": 100_000_000,
                "max_members": 40,
            },
            "currency": "EUR",
            "reserve": "500.00",
            "min_increment": "5.00",
            "soft_close_s": 120,
            "closes_at": (clock.now() + timedelta(minutes=10)).isoformat(),
        },
    )
    ex.place_bid(rev.id, northwind.id, "480.00", "400.00")
    console.print("  Northwind bids 480.00 EUR and lets the exchange go down to 400.00 for it")
    clock.advance(540)
    ex.place_bid(rev.id, summit.id, "450.00", "420.00")
    console.print(
        "  Summit bids 450.00 (limit 420.00) in the last two minutes: the soft close "
        "moves the close out"
    )
    view = ex.view(rev.id, None)
    leader = view.leader.name if view.leader else "-"
    console.print(f"  standing bid now {view.to_dict()['standing_price']} EUR by {leader}")
    clock.advance(180)
    ex.close_due()
    _print_view(ex.view(rev.id, None), False)
    console.print(
        "\nTry: [bold]commex auction list[/], [bold]commex auction show ID[/], "
        "[bold]commex --help[/]"
    )
