"""`commex billing`: list your charges, or a contract's, and ask for an attempt now (over HTTP;
the operator's `commex operator charge-due` charges what is due, for cron)."""

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
    print_json,
)

app = typer.Typer(help="Charges of awarded contracts.", no_args_is_help=True)


@app.command("charges")
@handle_errors
def charges(
    contract_id: str | None = typer.Option(
        None, "--contract", help="A contract's charges (its parties and members); else yours."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List your charges as a payer (COMMEX_TOKEN), or one contract's charges."""
    with connect(exchange) as client:
        if contract_id is None:
            items = client.my_charges()
        else:
            items = client.contract_charges(contract_id)["charges"]
    _print(items, as_json)


@app.command("retry")
@handle_errors
def retry(
    contract_id: str = typer.Argument(..., help="The contract whose charge to try now."),
    key: str | None = typer.Option(
        None, "--idempotency-key", help="Repeat the command with the same key: one attempt."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Ask for an attempt on your pending charge now. One is made on a default card other than
    the one last tried, or after a gateway error; otherwise the answer names the next scheduled
    try (saving another card, or making another the default, has it tried at once)."""
    with connect(exchange) as client:
        items = client.retry_charges(contract_id, key)
    _print(items, as_json)


def _print(items: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json({"items": items})
        return
    table = Table(title="charges")
    for column in ("charge", "contract", "payer", "amount", "status", "attempts", "code"):
        table.add_column(column)
    for c in items:
        table.add_row(
            c["id"], c["contract_id"], c["payer_id"], f"{c['amount']} {c['currency']}",
            c["status"], str(c["attempts"]), c["decline_code"] or "",
        )  # fmt: skip
    console.print(table)
