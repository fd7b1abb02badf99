"""`commex operator`: accounts of the exchange's operator (the auction moderator)."""

from __future__ import annotations

import typer

from commex.bootstrap import build_services
from commex.cli.common import console, handle_errors

app = typer.Typer(help="The operator: the auction moderator's accounts.")


@app.command("create")
@handle_errors
def create(name: str = typer.Argument(..., help="The operator account's name.")) -> None:
    """Create an operator account and print its API token (shown this once)."""
    services = build_services()
    reg = services.auth.register(name, ["operator"], operator=True)
    services.shutdown()
    console.print(f"operator {reg.account.id} ({reg.account.name}) created")
    console.print(f"API token (shown once): {reg.token}", soft_wrap=True)
