"""`commex account`: open and show accounts."""

from __future__ import annotations

import typer
from rich.table import Table

from commex.cli.common import JSON_OPTION, console, exchange, handle_errors, print_json
from commex.domain.accounts import Role

app = typer.Typer(help="Accounts: providers and recipients.")


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Display name."),
    role: list[str] = typer.Option(
        ..., "--role", help="provider and/or recipient (repeat for both)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Open an account and print its id."""
    account = exchange().create_account(name, role)
    if as_json:
        print_json({"id": account.id, "name": account.name, "roles": sorted(account.roles)})
    else:
        console.print(f"{account.id}  {account.name}  ({', '.join(sorted(account.roles))})")


@app.command("show")
@handle_errors
def show(account_id: str, as_json: bool = JSON_OPTION) -> None:
    """Show an account with its reputation in each role."""
    ex = exchange()
    account = ex.account(account_id)
    reps = {role: ex.reputation(account_id, role) for role in (Role.PROVIDER, Role.RECIPIENT)}
    if as_json:
        print_json(
            {
                "id": account.id,
                "name": account.name,
                "roles": sorted(account.roles),
                "reputation": {
                    "as_provider": reps[Role.PROVIDER].to_dict(),
                    "as_recipient": reps[Role.RECIPIENT].to_dict(),
                },
            }
        )
        return
    table = Table(title=f"{account.name} ({account.id})", show_header=False)
    table.add_row("roles", ", ".join(sorted(account.roles)))
    table.add_row("as provider", reps[Role.PROVIDER].describe())
    table.add_row("as recipient (payments)", reps[Role.RECIPIENT].describe())
    console.print(table)
