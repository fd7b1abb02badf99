"""`commex contract`: show a contract, share it with members, rate the other side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.table import Table

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    handle_errors,
    print_json,
    print_rating,
    print_usage_answer,
)
from commex.cli.devices import COMMENT_OPTION, SATISFIED_OPTION, SCORE_OPTION
from commex.presentation import ending, when

app = typer.Typer(help="Contracts: members, usage and ratings.", no_args_is_help=True)
MEMBER_OPTION = typer.Option(..., "--member", help="The member id whose use this is.")
SECONDS_OPTION = typer.Option(..., "--seconds", help="Seconds used, e.g. 90 or 1.5.")
BYTES_OPTION = typer.Option(None, "--bytes", help="Bytes carried, if known.")


@app.command("show")
@handle_errors
def show(
    contract_id: str = typer.Argument(..., help="The contract's id."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one of your contracts (COMMEX_TOKEN) with its members and ratings."""
    with connect(exchange) as client:
        contract = client.contract(contract_id)
    if as_json:
        print_json(contract)
        return
    table = Table(title=f"contract {contract['id']}", show_header=False)
    table.add_row("provider", contract["provider_id"])
    table.add_row("recipient", contract["recipient_id"])
    table.add_row("price", f"{contract['price']} {contract['currency']}")
    table.add_row("status", contract["status"])
    for label, key in (("awarded", "awarded_at"), ("started", "started_at")):
        if contract.get(key):
            table.add_row(label, when(datetime.fromisoformat(contract[key])))
    ended = contract.get("completed_at") or contract.get("cancelled_at")
    if ended:
        at = datetime.fromisoformat(ended)
        words = ending(contract["status"], contract["end_reason"], at, contract["end_note"])
        table.add_row("ended", words)
    table.add_row("members", ", ".join(_member(m) for m in contract["members"]) or "none")
    usage = contract["usage"]
    table.add_row(
        "usage",
        f"{usage['used_seconds']} s of {usage['block_seconds']} s used, "
        f"{usage['remaining_seconds']} s remain",
    )
    if contract["breaches"]:
        table.add_row("breaches", f"{len(contract['breaches'])} deliveries below the minimum rate")
    for r in contract["ratings"]:
        table.add_row(f"rating of {r['rated_role']}", _rating(r))
    console.print(table)


def _member(m: dict[str, Any]) -> str:
    return f"{m['kind']} {m[m['kind']]}"


def _rating(r: dict[str, Any]) -> str:
    out = "satisfied" if r["satisfied"] else "not satisfied"
    if r["score"] is not None:
        out += f", {r['score']}/5"
    if r["device_id"]:
        out += f" (device {r['device_id']})"
    if r["comment"]:
        out += f": {r['comment']}"
    return out


@app.command("add-member")
@handle_errors
def add_member(
    contract_id: str = typer.Argument(..., help="The contract to share."),
    device: str | None = typer.Option(None, "--device", help="A device id of yours."),
    phone: str | None = typer.Option(None, "--phone", help="A telephone number (+country...)."),
    account: str | None = typer.Option(None, "--account", help="A recipient account id."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Share your contract (as its recipient, COMMEX_TOKEN) with one device, number or account."""
    with connect(exchange) as client:
        member = client.add_member(
            contract_id, device_id=device, phone_number=phone, account_id=account
        )
    if as_json:
        print_json(member)
        return
    console.print(f"{member['id']}  {_member(member)}", highlight=False)


@app.command("rate")
@handle_errors
def rate(
    contract_id: str = typer.Argument(..., help="The contract to rate."),
    satisfied: bool = SATISFIED_OPTION,
    score: int | None = SCORE_OPTION,
    comment: str | None = COMMENT_OPTION,
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Rate the other side of your contract (COMMEX_TOKEN): the recipient rates the provider,
    the provider rates whether the recipient paid."""
    with connect(exchange) as client:
        rating = client.rate(contract_id, satisfied, score, comment)
    print_rating(rating, as_json)


@app.command("remove-member")
@handle_errors
def remove_member(
    contract_id: str = typer.Argument(..., help="The contract."),
    member_id: str = typer.Argument(..., help="The member to remove."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Take a member off your contract (as its recipient); its usage so far stays on record."""
    with connect(exchange) as client:
        member = client.remove_member(contract_id, member_id)
    if as_json:
        print_json(member)
        return
    console.print(f"{member['id']}  {_member(member)} removed", highlight=False)


@app.command("usage")
@handle_errors
def usage(
    contract_id: str = typer.Argument(..., help="The contract."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The block, what is used and remains, and each member's share (parties and members)."""
    with connect(exchange) as client:
        found = client.usage(contract_id)
    if as_json:
        print_json(found)
        return
    table = Table(
        title=(
            f"{found['used_seconds']} s of {found['block_seconds']} s used, "
            f"{found['remaining_seconds']} s remain"
        )
    )
    for column in ("member", "kind", "who", "used (s)", "bytes", "sessions"):
        table.add_column(column)
    for m in found["members"]:
        who = m[m["kind"]] + (" (removed)" if m["removed"] else "")
        row = (m["member_id"], m["kind"], who, str(m["used_seconds"]), str(m["bytes"]))
        table.add_row(*row, str(m["sessions"]))
    if found["delivered_seconds"]:
        table.add_row("", "plane", "the provider's packet plane", str(found["delivered_seconds"]))
    console.print(table)
    for d in found["deliveries"]:
        if d["breach"]:
            rx = d.get("receiver") or {}
            side = (
                f"the receiver reported {rx.get('fraction_lost', 0):.2%} lost of "
                if d.get("breach_measured_by") == "receiver"
                else "achieved "
            )
            console.print(
                f"[red]breach:[/] run {d['run_id']} {side}{d['achieved_rate_bps']} bit/s, "
                f"below the minimum {d['min_rate_bps']} bit/s",
                highlight=False,
            )


@app.command("report")
@handle_errors
def report(
    contract_id: str = typer.Argument(..., help="The contract."),
    member: str = MEMBER_OPTION,
    seconds: str = SECONDS_OPTION,
    bytes_: int | None = BYTES_OPTION,
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Report a member's use of the block (COMMEX_TOKEN: the recipient for any member, or a
    member account for itself); what would pass the block is not accepted."""
    with connect(exchange) as client:
        answer = client.report_usage(contract_id, member, seconds, bytes_)
    print_usage_answer(answer, as_json)
