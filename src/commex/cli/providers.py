"""`commex provider`: a provider's contracts in service and its declared capacity."""

from __future__ import annotations

import typer
from rich.table import Table

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    handle_errors,
    print_json,
)

app = typer.Typer(help="A provider's contracts and capacity.", no_args_is_help=True)


@app.command("contracts")
@handle_errors
def contracts(
    status: str | None = typer.Option(
        None, "--status", help="Only contracts in this status, e.g. active."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Your contracts as a provider (COMMEX_TOKEN), e.g. those in service now."""
    with connect(exchange) as client:
        found = client.provider_contracts(status)
    if as_json:
        print_json({"items": found})
        return
    table = Table(title=f"{len(found)} contract(s)")
    for column in ("contract", "status", "service", "recipient", "used / block (s)"):
        table.add_column(column)
    for c in found:
        usage = c["usage"]
        used = f"{usage['used_seconds']} / {usage['block_seconds']}"
        table.add_row(c["id"], c["status"], c["terms"]["service"], c["recipient_id"], used)
    console.print(table)


@app.command("capacity")
@handle_errors
def capacity(
    set_bps: int | None = typer.Option(
        None, "--set", help="Declare the capacity in bit/s, e.g. 100000000 for 100 Mbit/s."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show (or declare) your capacity in bit/s: blocks whose minimum rates would
    oversubscribe it during overlapping windows are refused."""
    with connect(exchange) as client:
        found = client.capacity(set_bps)
    if as_json:
        print_json(found)
        return
    declared = found["capacity_bps"]
    shown = "not declared (no limit)" if declared is None else f"{declared} bit/s"
    console.print(f"capacity: {shown}; committed: {found['committed_bps']} bit/s", highlight=False)
