"""`commex billing`: charge what is due (for cron), list your charges, ask for an attempt now."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from commex.bootstrap import build_services
from commex.cli.common import JSON_OPTION, console, handle_errors, print_json
from commex.cli.devices import EXCHANGE_OPTION
from commex.client import ExchangeClient, api_token_from_env
from commex.services.billing import charge_dict

app = typer.Typer(help="Charges of awarded contracts.", no_args_is_help=True)


@app.command("charge-due")
@handle_errors
def charge_due(
    limit: int = typer.Option(100, help="Most contracts and charges to handle in one run."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Charge newly awarded contracts and retry the charges that are due, on the local
    database (for cron; `commex serve` does it every second)."""
    services = build_services()
    try:
        run = services.billing.charge_due(limit)
    finally:
        services.shutdown()
    if as_json:
        print_json(
            {
                "created": [charge_dict(c) for c in run.created],
                "attempted": [charge_dict(c) for c in run.attempted],
            }
        )
        return
    if not run.created and not run.attempted:
        console.print("no charge was due")
    for c in run.created:
        console.print(f"created {c.id}: {c.amount.display()} from {c.payer_id}", highlight=False)
    for c in run.attempted:
        console.print(f"charged {c.id}: {c.status.value}", highlight=False)


@app.command("charges")
@handle_errors
def charges(
    contract_id: str | None = typer.Option(
        None, "--contract", help="A contract's charges (its parties and members); else yours."
    ),
    exchange: str = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List your charges as a payer (COMMEX_TOKEN), or one contract's charges."""
    with ExchangeClient(exchange, api_token_from_env()) as client:
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
    exchange: str = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Ask for an attempt on your pending charge now. One is made on a default card other than
    the one last tried, or after a gateway error; otherwise the answer names the next scheduled
    try (saving another card, or making another the default, has it tried at once)."""
    with ExchangeClient(exchange, api_token_from_env()) as client:
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
