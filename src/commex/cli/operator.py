"""`commex operator`: the exchange operator's own commands, which open the database directly
(COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR) and so need access to the database file:
operator accounts, and the scheduler's steps for cron (`commex serve` runs them every second).
"""

from __future__ import annotations

import typer

from commex.api.wire.billing import charge
from commex.bootstrap import build_exchange
from commex.cli.common import JSON_OPTION, console, handle_errors, print_json
from commex.services import commands as c

app = typer.Typer(
    help="The operator (needs the database file): operator accounts, and closing and charging "
    "what is due, for cron.",
    no_args_is_help=True,
)


@app.command("create")
@handle_errors
def create(name: str = typer.Argument(..., help="The operator account's name.")) -> None:
    """Create an operator account and print its API token (shown this once)."""
    bus = build_exchange()
    try:
        reg = bus.handle(c.Register(name, ("operator",), operator=True))
    finally:
        bus.dispose()
    console.print(f"operator {reg.account.id} ({reg.account.name}) created")
    console.print(f"API token (shown once): {reg.token}", soft_wrap=True)


@app.command("close-due")
@handle_errors
def close_due(
    limit: int = typer.Option(100, help="Most auctions to close in one run."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Close every auction whose close time has passed, start the contracts whose window has
    opened and complete those whose window has ended (for cron)."""
    bus = build_exchange()
    try:
        closed = bus.handle(c.CloseDue(limit))
        bus.handle(c.StartDue(limit))
        completed = bus.handle(c.CompleteDue(limit))
    finally:
        bus.dispose()
    if as_json:
        print_json({"closed": [a.id for a in closed], "completed": [x.id for x in completed]})
        return
    if not closed:
        console.print("no auction was due")
    for a in closed:
        winners = len(a.outcome.winners) if a.outcome else 0
        console.print(f"closed {a.id} ({a.title}): {winners} winner(s)")
    for x in completed:
        console.print(f"completed {x.id}: its window ended")


@app.command("charge-due")
@handle_errors
def charge_due(
    limit: int = typer.Option(100, help="Most contracts and charges to handle in one run."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Charge newly awarded contracts and retry the charges that are due (for cron)."""
    bus = build_exchange()
    try:
        run = bus.handle(c.ChargeDue(limit))
    finally:
        bus.dispose()
    if as_json:
        print_json(
            {
                "created": [charge(x) for x in run.created],
                "attempted": [charge(x) for x in run.attempted],
            }
        )
        return
    if not run.created and not run.attempted:
        console.print("no charge was due")
    for x in run.created:
        console.print(f"created {x.id}: {x.amount.display()} from {x.payer_id}", highlight=False)
    for x in run.attempted:
        console.print(f"charged {x.id}: {x.status.value}", highlight=False)
