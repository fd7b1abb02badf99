"""`commex auction`: create, list, show, bid, close, cancel, over HTTP as the account whose
token is in COMMEX_TOKEN (or the profile `commex login` saved)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    handle_errors,
    parse_duration,
    plain,
    print_json,
)
from commex.domain import units
from commex.domain.auctions import Status
from commex.domain.units import parse_rate
from commex.presentation import time_left

app = typer.Typer(
    help="Auctions: forward block sales and reverse procurements.", no_args_is_help=True
)


@app.command("create")
@handle_errors
def create(
    title: str = typer.Option(..., help="What is on offer or wanted."),
    direction: str = typer.Option("forward", help="forward (sell blocks) or reverse (buy)."),
    fmt: str = typer.Option(
        "second-price", "--format", help="first-price, second-price or english."
    ),
    service: str = typer.Option("voice", help="Service kind: voice, data, stream-processing..."),
    duration: str = typer.Option(
        ..., help="Block of time of usage: 500min, 30days (a bare number is seconds)."
    ),
    currency: str = typer.Option("EUR", help="ISO 4217 currency."),
    closes_in: str = typer.Option("1h", help="How long it stays open: 90s, 15m, 2h, 3d."),
    quantity: int = typer.Option(1, help="Identical blocks (forward sealed auctions)."),
    reserve: str | None = typer.Option(None, help="Forward: reserve; reverse: ceiling."),
    min_increment: str | None = typer.Option(None, help="English: minimum increment."),
    soft_close: int = typer.Option(0, help="English: seconds a late bid extends the close."),
    reputation_weight: str = typer.Option("0", help="Reverse: 0 (price alone) to 1."),
    min_rate: str | None = typer.Option(None, help="Minimum data rate: 20Mbit/s, 512kbit/s."),
    max_rate: str | None = typer.Option(None, help="Maximum data rate, e.g. 1Gbit/s."),
    max_members: int = typer.Option(1, help="Most members that may share the block."),
    step: list[str] = typer.Option([], help="Stream-processing steps (repeat)."),
    approved: list[str] = typer.Option([], help="Reverse: pre-approved provider ids (repeat)."),
    min_provider_score: float | None = typer.Option(None, help="Reverse: 0..1."),
    min_recipient_score: float | None = typer.Option(None, help="Forward: 0..1."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Open an auction as the account whose token you give."""
    terms = _terms(service, duration, min_rate, max_rate, max_members, step)
    eligibility = {
        "approved_providers": approved or None,
        "min_provider_score": min_provider_score,
        "min_recipient_score": min_recipient_score,
    }
    closes_at = datetime.now(UTC) + parse_duration(closes_in, "closes_in")
    body: dict[str, Any] = {
        "direction": direction,
        "format": fmt,
        "title": title,
        "terms": terms,
        "currency": currency,
        "quantity": quantity,
        "closes_at": closes_at.isoformat(),
        "soft_close_s": soft_close,
        "reputation_weight": reputation_weight,
        "reserve": reserve,
        "min_increment": min_increment,
        "eligibility": {k: v for k, v in eligibility.items() if v is not None} or None,
    }
    with connect(exchange) as client:
        shown = client.create_auction({k: v for k, v in body.items() if v is not None})
    print_auction(shown, as_json)


def _terms(
    service: str,
    duration: str,
    min_rate: str | None,
    max_rate: str | None,
    max_members: int,
    steps: list[str],
) -> dict[str, Any]:
    """The auction's terms from the options, durations and rates read in human units."""
    terms: dict[str, Any] = {
        "service": service,
        "duration_s": units.parse_duration(duration, "duration"),
        "max_members": max_members,
    }
    optional = {
        "min_rate_bps": None if min_rate is None else parse_rate(min_rate, "min_rate"),
        "max_rate_bps": None if max_rate is None else parse_rate(max_rate, "max_rate"),
        "steps": steps or None,
    }
    return terms | {k: v for k, v in optional.items() if v is not None}


@app.command("list")
@handle_errors
def list_cmd(
    status: str | None = typer.Option(None, help="open, closed or cancelled (default: any)."),
    service: str | None = typer.Option(None, help="voice, data, sms, video, stream-processing..."),
    direction: str | None = typer.Option(None, help="forward (selling) or reverse (buying)."),
    fmt: str | None = typer.Option(None, "--format", help="first-price, second-price, english."),
    currency: str | None = typer.Option(None, help="ISO 4217, e.g. EUR."),
    min_price: str | None = typer.Option(None, help="Listed price from (standing or ceiling)."),
    max_price: str | None = typer.Option(None, help="Listed price up to."),
    min_rate: str | None = typer.Option(None, help="Guaranteed rate at least, e.g. 20Mbit/s."),
    max_rate: str | None = typer.Option(None, help="Rate capped at most at, e.g. 1Gbit/s."),
    window_from: str | None = typer.Option(None, help="Usable during a range from (ISO time)."),
    window_to: str | None = typer.Option(None, help="...until (ISO time)."),
    owner: str | None = typer.Option(None, help="The owner's account id."),
    search: str | None = typer.Option(None, "--search", "-q", help="Words in the title."),
    sort: str = typer.Option("newest", help="newest, closing, price or -price."),
    limit: int = typer.Option(50, min=1, max=500, help="How many per page."),
    cursor: str | None = typer.Option(None, help="The next page: the cursor a list printed."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Find auctions (every filter given must hold), with time left and owner reputation."""
    filters = {
        "status": status, "service": service, "direction": direction, "format": fmt,
        "currency": currency, "min_price": min_price, "max_price": max_price,
        "min_rate_bps": None if min_rate is None else parse_rate(min_rate, "min_rate"),
        "max_rate_bps": None if max_rate is None else parse_rate(max_rate, "max_rate"),
        "window_from": window_from, "window_to": window_to, "owner": owner, "q": search,
        "sort": sort, "limit": limit, "cursor": cursor,
    }  # fmt: skip
    with connect(exchange) as client:
        page = client.find_auctions(**filters)
    if as_json:
        print_json(page)
        return
    print_auction_lines(page["items"], "Auctions")
    if page["next_cursor"]:
        console.print(f"more: add --cursor {page['next_cursor']}", soft_wrap=True, highlight=False)


def print_auction_lines(items: list[dict[str, Any]], title: str) -> None:
    now = datetime.now(UTC)
    table = Table(title=title)
    for col in ("id", "title", "kind", "status", "time left", "bids", "owner", ""):
        table.add_column(col)
    for a in items:
        closes = datetime.fromisoformat(a["closes_at"])
        left = time_left(closes, now) if a["status"] == Status.OPEN else "-"
        owner = f"{plain(a['owner']['name'])}\n[dim]{a['owner']['reputation']['summary']}[/]"
        kind = f"{a['direction']} {a['format']}"
        star = "★" if a.get("watched") else ""
        table.add_row(
            a["id"], plain(a["title"]), kind, a["status"], left, str(a["bid_count"]), owner, star
        )
    console.print(table)


@app.command("watch")
@handle_errors
def watch(auction_id: str, exchange: str | None = EXCHANGE_OPTION) -> None:
    """Follow an auction: you hear when it closes soon (and see it with `watching`)."""
    with connect(exchange) as client:
        client.watch(auction_id)
    console.print(f"watching {auction_id}", highlight=False)


@app.command("unwatch")
@handle_errors
def unwatch(auction_id: str, exchange: str | None = EXCHANGE_OPTION) -> None:
    """Stop following an auction."""
    with connect(exchange) as client:
        client.unwatch(auction_id)
    console.print(f"no longer watching {auction_id}", highlight=False)


@app.command("watching")
@handle_errors
def watching(exchange: str | None = EXCHANGE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The auctions you watch, most recently added first."""
    with connect(exchange) as client:
        page = client.watchlist()
    if as_json:
        print_json(page)
        return
    print_auction_lines(page["items"], "Watched auctions")


@app.command("show")
@handle_errors
def show(
    auction_id: str, exchange: str | None = EXCHANGE_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Show an auction as you may see it: terms, ranking rule, the bids you may see, the
    outcome."""
    with connect(exchange) as client:
        print_auction(client.auction(auction_id), as_json)


@app.command("bid")
@handle_errors
def bid(
    auction_id: str,
    amount: str = typer.Argument(..., help='The amount, e.g. "12.50".'),
    max_amount: str | None = typer.Option(
        None, "--max", help="English: proxy limit (the exchange bids for you up to it)."
    ),
    key: str | None = typer.Option(
        None, "--idempotency-key", help="Repeat the command with the same key: one bid."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Place a bid."""
    with connect(exchange) as client:
        placed = client.bid(auction_id, amount, max_amount, key)
        if as_json:
            print_json(placed)
            return
        console.print(f"bid {placed['id']} accepted: {placed['amount']}", highlight=False)
        print_auction(client.auction(auction_id), False)


@app.command("close")
@handle_errors
def close(
    auction_id: str,
    reason: str | None = typer.Option(None, help="Required to close early (operator)."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Close an auction and award it (owner once due; operator any time, with a reason)."""
    with connect(exchange) as client:
        print_auction(client.close_auction(auction_id, reason), as_json)


@app.command("cancel")
@handle_errors
def cancel(
    auction_id: str,
    reason: str | None = typer.Option(None, help="Why (required for the operator)."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel an auction (its owner while it has no bids; the operator any time)."""
    with connect(exchange) as client:
        print_auction(client.cancel_auction(auction_id, reason), as_json)


def print_auction(data: dict[str, Any], as_json: bool) -> None:
    """An auction as the API answers it: as JSON, or as tables of its terms, bids and outcome."""
    if as_json:
        print_json(data)
        return
    console.print(_head(data))
    if data["bids"]:
        console.print(_bids(data["bids"]))
    outcome = data.get("outcome")
    if outcome is not None:
        if not outcome["winners"]:
            console.print(f"[bold]Outcome:[/] no winner ({outcome['note'] or 'no bids'})")
        names = {b["bidder"]["id"]: b["bidder"]["name"] for b in data["bids"]}
        for w in outcome["winners"]:
            who = names.get(w["bidder_id"], w["bidder_id"])
            console.print(
                f"[bold]Winner:[/] {who} at {w['price']} {data['currency']} "
                f"(bid {w['bid_id']}, contract {w['contract_id']})"
            )
    if data.get("cancel_reason"):
        console.print(f"[bold]Cancelled:[/] {data['cancel_reason']}")


def _head(a: dict[str, Any]) -> Table:
    head = Table(title=f"{a['title']}  [dim]{a['id']}[/]", show_header=False)
    head.add_row("kind", f"{a['direction']} auction, {a['format']}, {a['quantity']} block(s)")
    owner = a["owner"]
    head.add_row("owner", f"{owner['name']} — {owner['reputation']['summary']}")
    head.add_row("status", a["status"])
    head.add_row("closes at", a["closes_at"])
    t = a["terms"]
    rate = ""
    if t.get("min_rate_bps") or t.get("max_rate_bps"):
        rate = f", rate {t.get('min_rate_bps') or 0}..{t.get('max_rate_bps') or '-'} bit/s"
    members = t.get("max_members", 1)
    head.add_row(
        "terms", f"{t['service']}, {t['duration_s']} s of usage, up to {members} member(s){rate}"
    )
    if "reserve" in a:
        label = "ceiling" if a["direction"] == "reverse" else "reserve"
        head.add_row(label, f"{a['reserve']} {a['currency']}")
    if "standing_price" in a:
        leader = a["leader"]["name"] if a.get("leader") else "-"
        head.add_row("standing bid", f"{a['standing_price']} {a['currency']} by {leader}")
    head.add_row("bids", str(a["bid_count"]))
    head.add_row("ranking rule", a["ranking_rule"])
    return head


def _bids(bids: list[dict[str, Any]]) -> Table:
    table = Table(title="Bids you can see")
    for col in ("rank", "bid", "bidder", "reputation", "amount", "effective", "time"):
        table.add_column(col)
    for b in bids:
        amount = b["amount"]
        if b.get("max_amount") is not None:
            amount += f" (limit {b['max_amount']})"
        if b["proxy"]:
            amount += " (proxy)"
        if not b["active"]:
            amount += " (replaced)"
        effective = b.get("effective_price")
        created = datetime.fromisoformat(b["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(b.get("rank") or ""),
            b["id"],
            b["bidder"]["name"],
            b["bidder"]["reputation"]["summary"],
            amount,
            "" if effective is None else f"{Decimal(effective):.2f}",
            created,
        )
    return table
