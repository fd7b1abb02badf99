"""`commex account`: open an account, show one (over HTTP, like every command acting as an
account)."""

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
from commex.domain.accounts import parse_roles
from commex.presentation import reputation_words

app = typer.Typer(help="Accounts: providers and recipients.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Display name."),
    role: list[str] = typer.Option(
        ..., "--role", help="provider and/or recipient (repeat for both)."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Open an account and print its id and its API token (shown this once; keep it, or save
    it with `commex login`)."""
    roles = sorted(r.value for r in parse_roles(list(role)))  # the domain's words for bad ones
    with connect(exchange, anonymous=True) as client:
        opened = client.create_account(name, roles)
    if as_json:
        print_json(opened)
        return
    console.print(f"{opened['id']}  {opened['name']}  ({', '.join(opened['roles'])})")
    console.print(f"API token (shown once): {opened['token']}", soft_wrap=True, highlight=False)


@app.command("show")
@handle_errors
def show(
    account_id: str, exchange: str | None = EXCHANGE_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Show an account with its reputation in each role."""
    with connect(exchange) as client:
        found = client.account(account_id)
    if as_json:
        print_json(found)
        return
    reps = found["reputation"]
    table = Table(title=f"{found['name']} ({found['id']})", show_header=False)
    table.add_row("roles", ", ".join(found["roles"]))
    table.add_row("as provider", reputation_words(reps["as_provider"]))
    table.add_row("as recipient (payments)", reputation_words(reps["as_recipient"]))
    console.print(table)
