"""`commex notification`: your notification centre (list, mark read) and `commex webhook`:
send your events to a program (create, list, remove, deliveries, retry). Over HTTP as the
account whose token is in COMMEX_TOKEN (or the profile `commex login` saved)."""

from __future__ import annotations

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

app = typer.Typer(
    help="Your notification centre: what happened that concerns you.", no_args_is_help=True
)
hooks = typer.Typer(help="Webhooks: your events, signed, sent to a program.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_cmd(
    unread: bool = typer.Option(False, "--unread", help="Only what you have not read."),
    limit: int = typer.Option(50, min=1, max=500, help="How many per page."),
    cursor: str | None = typer.Option(None, help="The next page: the cursor a list printed."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Your notifications, newest first, in words."""
    with connect(exchange) as client:
        page = client.notifications(unread, limit, cursor)
    if as_json:
        print_json(page)
        return
    table = Table(title=f"Notifications ({page['unread']} unread)")
    for col in ("", "when", "what", "id"):
        table.add_column(col)
    for n in page["items"]:
        what = f"[bold]{plain(n['title'])}[/]\n{plain(n['message'])}"
        table.add_row("" if n["read"] else "•", n["created_at"][:16], what, n["id"])
    console.print(table)
    if page["next_cursor"]:
        console.print(f"more: add --cursor {page['next_cursor']}", soft_wrap=True, highlight=False)


@app.command("read")
@handle_errors
def read(
    ids: list[str] = typer.Argument(None, help="The notices read (all of them if none given)."),
    exchange: str | None = EXCHANGE_OPTION,
) -> None:
    """Mark notices read."""
    with connect(exchange) as client:
        done = client.mark_read(ids or None)
    console.print(f"{done['marked']} marked read; {done['unread']} unread", highlight=False)


@hooks.command("create")
@handle_errors
def create(
    url: str = typer.Argument(..., help="Where to POST the events (https://...)."),
    event: list[str] = typer.Option(
        ..., "--event", help="An event type (repeat), e.g. bid.outbid."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Send your events of these types to URL. Prints the signing secret, this once."""
    with connect(exchange) as client:
        made = client.create_webhook(url, event)
    if as_json:
        print_json(made)
        return
    events = ", ".join(made["events"])
    console.print(f"webhook {made['id']} sends {events} to {plain(made['url'])}", highlight=False)
    console.print(
        f"signing secret (shown this once): {made['secret']}", soft_wrap=True, highlight=False
    )


@hooks.command("list")
@handle_errors
def list_hooks(exchange: str | None = EXCHANGE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Your webhooks."""
    with connect(exchange) as client:
        found = client.webhooks()
    if as_json:
        print_json({"items": found})
        return
    table = Table(title="Webhooks")
    for col in ("id", "url", "events"):
        table.add_column(col)
    for w in found:
        table.add_row(w["id"], plain(w["url"]), ", ".join(w["events"]))
    console.print(table)


@hooks.command("remove")
@handle_errors
def remove(webhook_id: str, exchange: str | None = EXCHANGE_OPTION) -> None:
    """Stop a webhook (its delivery log stays readable)."""
    with connect(exchange) as client:
        client.delete_webhook(webhook_id)
    console.print(f"webhook {webhook_id} removed", highlight=False)


@hooks.command("deliveries")
@handle_errors
def deliveries(
    webhook_id: str,
    cursor: str | None = typer.Option(None, help="The next page: the cursor a list printed."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A webhook's delivery log, newest first."""
    with connect(exchange) as client:
        page = client.deliveries(webhook_id, cursor)
    if as_json:
        print_json(page)
        return
    table = Table(title=f"Deliveries of {webhook_id}")
    for col in ("id", "event", "type", "status", "attempts", "last answer", "next try"):
        table.add_column(col)
    for d in page["items"]:
        last = plain(d["last_status"] or d["last_error"] or "")
        table.add_row(d["id"], d["event_id"], d["type"], d["status"], str(d["attempts"]), last,
                      (d["next_attempt_at"] or "")[:19])  # fmt: skip
    console.print(table)
    if page["next_cursor"]:
        console.print(f"more: add --cursor {page['next_cursor']}", soft_wrap=True, highlight=False)


@hooks.command("retry")
@handle_errors
def retry(webhook_id: str, delivery_id: str, exchange: str | None = EXCHANGE_OPTION) -> None:
    """Send a delivery again now (and for a day if it fails), however it ended."""
    with connect(exchange) as client:
        again = client.redeliver(webhook_id, delivery_id)
    console.print(f"delivery {again['id']} is {again['status']}: it is sent again now")
