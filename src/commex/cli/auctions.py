"""`commex auction`: create, list, show, bid, close, cancel, close-due."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from commex.cli.common import (
    AS_OPTION,
    JSON_OPTION,
    console,
    exchange,
    handle_errors,
    parse_duration,
    print_json,
)
from commex.domain.auctions import Status
from commex.domain.errors import InvalidInput
from commex.services.views import AuctionView, outcome_dict, time_left

app = typer.Typer(help="Auctions: forward block sales and reverse procurements.")


@app.command("create")
@handle_errors
def create(
    title: str = typer.Option(..., help="What is on offer or wanted."),
    owner: str = AS_OPTION,
    direction: str = typer.Option("forward", help="forward (sell blocks) or reverse (buy)."),
    fmt: str = typer.Option(
        "second-price", "--format", help="first-price, second-price or english."
    ),
    service: str = typer.Option("voice", help="Service kind: voice, data, stream-processing..."),
    duration: int = typer.Option(..., help="Block of time of usage, in seconds."),
    currency: str = typer.Option("EUR", help="ISO 4217 currency."),
    closes_in: str = typer.Option("1h", help="How long it stays open: 90s, 15m, 2h, 3d."),
    quantity: int = typer.Option(1, help="Identical blocks (forward sealed auctions)."),
    reserve: str | None = typer.Option(None, help="Forward: reserve; reverse: ceiling."),
    min_increment: str | None = typer.Option(None, help="English: minimum increment."),
    soft_close: int = typer.Option(0, help="English: seconds a late bid extends the close."),
    reputation_weight: str = typer.Option("0", help="Reverse: 0 (price alone) to 1."),
    min_rate: int | None = typer.Option(None, help="Minimum data rate, bit/s."),
    max_rate: int | None = typer.Option(None, help="Maximum data rate, bit/s."),
    max_members: int = typer.Option(1, help="Most members that may share the block."),
    step: list[str] = typer.Option([], help="Stream-processing steps (repeat)."),
    approved: list[str] = typer.Option([], help="Reverse: pre-approved provider ids (repeat)."),
    min_provider_score: float | None = typer.Option(None, help="Reverse: 0..1."),
    min_recipient_score: float | None = typer.Option(None, help="Forward: 0..1."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Open an auction."""
    ex = exchange()
    terms: dict[str, Any] = {"service": service, "duration_s": duration, "max_members": max_members}
    if min_rate is not None:
        terms["min_rate_bps"] = min_rate
    if max_rate is not None:
        terms["max_rate_bps"] = max_rate
    if step:
        terms["steps"] = step
    eligibility: dict[str, Any] = {}
    if approved:
        eligibility["approved_providers"] = approved
    if min_provider_score is not None:
        eligibility["min_provider_score"] = min_provider_score
    if min_recipient_score is not None:
        eligibility["min_recipient_score"] = min_recipient_score
    request: dict[str, Any] = {
        "direction": direction,
        "format": fmt,
        "title": title,
        "terms": terms,
        "currency": currency,
        "quantity": quantity,
        "closes_at": (ex.clock.now() + parse_duration(closes_in, "closes_in")).isoformat(),
        "soft_close_s": soft_close,
        "reputation_weight": reputation_weight,
        "eligibility": eligibility or None,
    }
    if reserve is not None:
        request["reserve"] = reserve
    if min_increment is not None:
        request["min_increment"] = min_increment
    auction = ex.create_auction(owner, request)
    _print_view(ex.view(auction.id, owner), as_json)


@app.command("list")
@handle_errors
def list_cmd(
    status: str | None = typer.Option(None, help="open, closed or cancelled."),
    limit: int = typer.Option(50, help="How many, newest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List auctions with time left and the owner's reputation."""
    try:
        wanted = Status(status) if status else None
    except ValueError as exc:
        raise InvalidInput("status must be open, closed or cancelled", "status") from exc
    ex = exchange()
    items = ex.auctions(wanted, limit)
    if as_json:
        print_json(
            {
                "items": [
                    {
                        "id": s.auction.id,
                        "title": s.auction.title,
                        "direction": s.auction.direction.value,
                        "format": s.auction.format.value,
                        "status": s.auction.status.value,
                        "closes_at": s.auction.closes_at.isoformat(),
                        "bid_count": s.auction.bid_count,
                        "owner": {
                            "id": s.auction.owner_id,
                            "name": s.owner_name,
                            "reputation": s.owner_reputation.to_dict(),
                        },
                    }
                    for s in items
                ]
            }
        )
        return
    now = ex.clock.now()
    table = Table(title="Auctions")
    for col in ("id", "title", "kind", "status", "time left", "bids", "owner"):
        table.add_column(col)
    for s in items:
        a = s.auction
        left = time_left(a.closes_at, now) if a.status is Status.OPEN else "-"
        owner = f"{s.owner_name}\n[dim]{s.owner_reputation.describe()}[/]"
        table.add_row(
            a.id,
            a.title,
            f"{a.direction} {a.format}",
            a.status.value,
            left,
            str(a.bid_count),
            owner,
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    auction_id: str,
    viewer: str | None = typer.Option(None, "--as", envvar="COMMEX_ACCOUNT", help="Viewer id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show an auction: terms, ranking rule, the bids you may see, the outcome."""
    _print_view(exchange().view(auction_id, viewer), as_json)


@app.command("bid")
@handle_errors
def bid(
    auction_id: str,
    amount: str = typer.Argument(..., help='The amount, e.g. "12.50".'),
    bidder: str = AS_OPTION,
    max_amount: str | None = typer.Option(
        None, "--max", help="English: proxy limit (the exchange bids for you up to it)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Place a bid."""
    ex = exchange()
    placed = ex.place_bid(auction_id, bidder, amount, max_amount)
    view = ex.view(auction_id, bidder)
    if as_json:
        mine = next((b for b in view.bids if b.bid.id == placed.id), None)
        print_json(mine.to_dict() if mine else {"id": placed.id})
        return
    console.print(f"bid {placed.id} accepted: {placed.amount.display()}")
    _print_view(view, False)


@app.command("close")
@handle_errors
def close(
    auction_id: str,
    by: str = AS_OPTION,
    reason: str | None = typer.Option(None, help="Required to close early (operator)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Close an auction and award it (owner once due; operator any time, with a reason)."""
    ex = exchange()
    ex.close(auction_id, by, reason)
    _print_view(ex.view(auction_id, by), as_json)


@app.command("cancel")
@handle_errors
def cancel(
    auction_id: str,
    by: str = AS_OPTION,
    reason: str | None = typer.Option(None, help="Why (required for the operator)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel an auction (its owner while it has no bids; the operator any time)."""
    ex = exchange()
    ex.cancel(auction_id, by, reason)
    _print_view(ex.view(auction_id, by), as_json)


@app.command("close-due")
@handle_errors
def close_due(
    limit: int = typer.Option(100, help="Most auctions to close in one run."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Close every auction whose close time has passed (for cron)."""
    closed = exchange().close_due(limit)
    if as_json:
        print_json({"closed": [a.id for a in closed]})
        return
    if not closed:
        console.print("no auction was due")
    for a in closed:
        winners = len(a.outcome.winners) if a.outcome else 0
        console.print(f"closed {a.id} ({a.title}): {winners} winner(s)")


def _print_view(view: AuctionView, as_json: bool) -> None:
    data = view.to_dict()
    if as_json:
        print_json(data)
        return
    a = view.auction
    head = Table(title=f"{a.title}  [dim]{a.id}[/]", show_header=False)
    head.add_row("kind", f"{a.direction} auction, {a.format}, {a.quantity} block(s)")
    head.add_row("owner", f"{view.owner.name} — {view.owner.reputation.describe()}")
    head.add_row("status", a.status.value)
    head.add_row("closes at", a.closes_at.isoformat())
    terms = a.terms
    rate = ""
    if terms.min_rate_bps or terms.max_rate_bps:
        rate = f", rate {terms.min_rate_bps or 0}..{terms.max_rate_bps or '-'} bit/s"
    head.add_row(
        "terms",
        f"{terms.service}, {terms.duration_s} s of usage, up to {terms.max_members} member(s)"
        + rate,
    )
    if "reserve" in data:
        label = "ceiling" if a.direction.value == "reverse" else "reserve"
        head.add_row(label, f"{data['reserve']} {a.currency}")
    if "standing_price" in data:
        leader = view.leader.name if view.leader else "-"
        head.add_row("standing bid", f"{data['standing_price']} {a.currency} by {leader}")
    head.add_row("bids", str(a.bid_count))
    head.add_row("ranking rule", view.ranking_rule)
    console.print(head)
    if view.bids:
        bids = Table(title="Bids you can see")
        for col in ("rank", "bid", "bidder", "reputation", "amount", "effective", "time"):
            bids.add_column(col)
        for b in view.bids:
            amount = str(b.bid.amount)
            if b.bid.max_amount is not None:
                amount += f" (limit {b.bid.max_amount})"
            if b.bid.proxy:
                amount += " (proxy)"
            if not b.bid.active:
                amount += " (replaced)"
            bids.add_row(
                str(b.rank or ""),
                b.bid.id,
                b.bidder.name,
                b.bidder.reputation.describe(),
                amount,
                "" if b.effective_price is None else f"{b.effective_price:.2f}",
                b.bid.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        console.print(bids)
    if a.outcome is not None:
        out = outcome_dict(a.outcome)
        if not out["winners"]:
            console.print(f"[bold]Outcome:[/] no winner ({out['note'] or 'no bids'})")
        names = {b.bid.bidder_id: b.bidder.name for b in view.bids}
        for w in out["winners"]:
            who = names.get(w["bidder_id"], w["bidder_id"])
            console.print(
                f"[bold]Winner:[/] {who} at {w['price']} {a.currency} "
                f"(bid {w['bid_id']}, contract {w['contract_id']})"
            )
    if a.cancel_reason:
        console.print(f"[bold]Cancelled:[/] {a.cancel_reason}")
