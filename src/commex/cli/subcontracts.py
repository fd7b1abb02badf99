"""`commex subcontract`: a provider's subcontracts, on either side (S10)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    handle_errors,
    plain,
    print_json,
)

app = typer.Typer(help="Subcontracts between providers.", no_args_is_help=True)


def _money(s: dict[str, Any]) -> str:
    if "amount" not in s:
        return "-"
    return f"{s['amount']} {s['currency']} ({s['price_per_1000_packets']} per 1,000)"


@app.command("list")
@handle_errors
def list_subcontracts(
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="At most this many."),
    cursor: str | None = typer.Option(None, help="The next page: the cursor a list printed."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Your subcontracts, those you gave and those you do, newest first."""
    with connect(exchange) as client:
        me = client.me()["id"]
        page = client.subcontracts(limit, cursor)
    if as_json:
        print_json(page)
        return
    found = page["items"]
    table = Table(title=f"{len(found)} subcontract(s)")
    for column in ("subcontract", "parent", "step", "you", "other provider", "packets",
                   "amount", "status", "check"):  # fmt: skip
        table.add_column(column)
    for s in found:
        gave = s["subcontracting_provider"]["id"] == me
        other = s["provider"] if gave else s["subcontracting_provider"]
        table.add_row(
            plain(s["id"]), plain(s["parent_contract_id"]), plain(s["step"]),
            "subcontracting" if gave else "subcontractor", plain(other["name"]),
            str(s["packets"]), plain(_money(s)), plain(s["status"]), plain(s["outcome"] or "-"),
        )  # fmt: skip
    console.print(table)
    if page["next_cursor"]:
        console.print(f"more: add --cursor {page['next_cursor']}", soft_wrap=True, highlight=False)


@app.command("show")
@handle_errors
def show(
    subcontract_id: str = typer.Argument(..., help="The subcontract's id."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One subcontract: both providers, the step, packets metered, amount, check and charge."""
    with connect(exchange) as client:
        s = client.subcontract(subcontract_id)
    if as_json:
        print_json(s)
        return
    lines = [
        f"subcontract {s['id']} under contract {s['parent_contract_id']}: {s['step']}",
        f"from {s['subcontracting_provider']['name']} to {s['provider']['name']} "
        f"({s['provider']['reputation']['summary']})",
        f"{s['packets']} packets, {_money(s)}, {s['status']}",
    ]
    if s.get("outcome"):
        lines.append(f"check: {s['outcome']}" + (f" ({s['detail']})" if s.get("detail") else ""))
    if s.get("charge"):
        lines.append(
            f"charge {s['charge']['id']}: {s['charge']['amount']}, {s['charge']['status']}"
        )
    for line in lines:
        console.print(plain(line), highlight=False)
