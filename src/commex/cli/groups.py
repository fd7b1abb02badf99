"""`commex group`: form a group of recipients, invite, join, sponsor, and open its auction."""

from __future__ import annotations

from datetime import UTC, datetime
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
    print_json,
)
from commex.domain.errors import InvalidInput

app = typer.Typer(help="Groups of recipients that buy together.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="The group's name."),
    currency: str = typer.Option("EUR", "--currency", help="The currency pledges are in."),
    split: str = typer.Option(
        "proportional", "--split", help="How the price is split: proportional or equal."
    ),
    pledge: str | None = typer.Option(None, "--pledge", help="Your pledge; leave out to not pay."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Form a group (as the recipient in COMMEX_TOKEN); you join as a payer if you pledge."""
    with connect(exchange) as client:
        group = client.create_group(name, currency, split, pledge)
    _print_group(group, as_json)


@app.command("show")
@handle_errors
def show(
    group_id: str = typer.Argument(..., help="The group's id."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a group of yours: members, pledges, sponsorship, the split rule and the shares."""
    with connect(exchange) as client:
        group = client.group(group_id)
    _print_group(group, as_json)


@app.command("invite")
@handle_errors
def invite(
    group_id: str = typer.Argument(..., help="The group's id."),
    account_id: str = typer.Argument(..., help="The recipient account to invite."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Invite a recipient account to your group (the creator only)."""
    with connect(exchange) as client:
        invited = client.invite_to_group(group_id, account_id)
    if as_json:
        print_json(invited)
        return
    console.print(f"invited {invited['account_id']} to {invited['group_id']}", highlight=False)


@app.command("join")
@handle_errors
def join(
    group_id: str = typer.Argument(..., help="The group's id."),
    pledge: str | None = typer.Option(None, "--pledge", help="Join as a payer with this pledge."),
    non_payer: bool = typer.Option(False, "--non-payer", help="Join without paying."),
    decline: bool = typer.Option(False, "--decline", help="Decline the invitation."),
    leave: bool = typer.Option(False, "--leave", help="Leave the group."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Answer an invitation, change your pledge, or leave: --pledge AMOUNT, --non-payer,
    --decline or --leave."""
    flags = {"payer": pledge is not None, "non-payer": non_payer, "decline": decline}
    chosen = [name for name, on in (flags | {"leave": leave}).items() if on]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of --pledge, --non-payer, --decline or --leave")
    with connect(exchange) as client:
        group = client.answer_group(group_id, chosen[0], pledge)
    if group is None:
        console.print(f"you are no longer in {group_id}", highlight=False)
        return
    _print_group(group, as_json)


@app.command("sponsor")
@handle_errors
def sponsor(
    group_id: str = typer.Argument(..., help="The group's id."),
    account_ids: list[str] = typer.Argument(None, help="The non-payers you sponsor (none: stop)."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Name the non-payers you sponsor as a payer (replaces your earlier list)."""
    with connect(exchange) as client:
        group = client.sponsor(group_id, list(account_ids or []))
    _print_group(group, as_json)


@app.command("auction")
@handle_errors
def auction(
    group_id: str = typer.Argument(..., help="The group's id."),
    title: str = typer.Option(..., "--title", help="What the group is buying."),
    service: str = typer.Option("voice", "--service", help="voice, data, stream-processing..."),
    duration: int = typer.Option(..., "--duration", help="The block of usage, in seconds."),
    fmt: str = typer.Option("first-price", "--format", help="first-price, second-price, english."),
    closes_in: str = typer.Option("1h", "--closes-in", help="When it closes: 90s, 15m, 2h, 3d."),
    ceiling: str | None = typer.Option(
        None, "--ceiling", help="The most to pay (at most, and by default, the pledges' sum)."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Open the group's reverse auction (the creator); its ceiling is what the payers pledged."""
    closes_at = datetime.now(UTC) + parse_duration(closes_in, "closes_in")
    body: dict[str, Any] = {
        "format": fmt,
        "title": title,
        "terms": {"service": service, "duration_s": duration},
        "closes_at": closes_at.isoformat(),
    }
    if ceiling is not None:
        body["reserve"] = ceiling
    with connect(exchange) as client:
        opened = client.open_group_auction(group_id, body)
    if as_json:
        print_json(opened)
        return
    console.print(
        f"{opened['id']}  {opened['title']}: ceiling {opened.get('reserve')} {opened['currency']}",
        highlight=False,
    )


def _print_group(group: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(group)
        return
    table = Table(title=f"{group['name']} ({group['id']})")
    for column in ("member", "standing", "pledge", "sponsored by", "payment reputation"):
        table.add_column(column)
    for m in group["members"]:
        sponsors = ", ".join(p["name"] for p in m["sponsored_by"])
        if m["unsponsored"]:
            sponsors = "unsponsored"
        rep = m["account"]["reputation"]["summary"]
        table.add_row(m["account"]["name"], m["state"], m["pledge"] or "", sponsors, rep)
    console.print(table)
    console.print(f"ceiling {group['ceiling']} {group['currency']}", highlight=False)
    console.print(group["split_rule_text"], highlight=False)
    for a in group["auctions"]:
        line = f"auction {a['id']} ({a['status']})"
        if a["price"]:
            line += f": price {a['price']}"
        console.print(line, highlight=False)
        for s in a["shares"]:
            name, amount, state = s["payer"]["name"], s["amount"], s["charge_status"]
            console.print(f"  {name} pays {amount} ({state})", highlight=False)
