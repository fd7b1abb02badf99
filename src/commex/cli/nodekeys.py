"""`commex node-key`: the keys a provider's processing nodes authenticate with (S10)."""

from __future__ import annotations

import typer
from rich.table import Table

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    err_console,
    handle_errors,
    plain,
    print_json,
)

app = typer.Typer(help="Keys for your processing nodes.", no_args_is_help=True)


@app.command("issue")
@handle_errors
def issue(
    name: str = typer.Argument(..., help="A name telling this node apart, e.g. 'rack 4'."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Issue a key for one of your nodes (COMMEX_TOKEN of a provider). The key is shown this
    once; the node presents it to the exchange as its bearer token."""
    with connect(exchange) as client:
        issued = client.issue_node_key(name)
    if as_json:
        print_json(issued)
        return
    console.print(f"node key {plain(issued['id'])} ({plain(issued['name'])}):", highlight=False)
    console.print(plain(issued["key"]), highlight=False, soft_wrap=True)
    err_console.print("shown this once: keep it where only the node can read it", highlight=False)


@app.command("list")
@handle_errors
def list_keys(
    cursor: str | None = typer.Option(None, help="The next page: the cursor a list printed."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Your node keys (never the keys themselves), revoked ones too, newest first."""
    with connect(exchange) as client:
        page = client.node_keys(cursor)
    if as_json:
        print_json(page)
        return
    found = page["items"]
    table = Table(title=f"{len(found)} node key(s)")
    for column in ("key", "name", "ends in", "issued", "revoked"):
        table.add_column(column)
    for k in found:
        table.add_row(
            plain(k["id"]), plain(k["name"]), plain(k["hint"]), plain(k["created_at"]),
            plain(k["revoked_at"] or "-"),
        )  # fmt: skip
    console.print(table)
    if page["next_cursor"]:
        console.print(f"more: add --cursor {page['next_cursor']}", soft_wrap=True, highlight=False)


@app.command("revoke")
@handle_errors
def revoke(
    key_id: str = typer.Argument(..., help="The key's id, as `commex node-key list` shows."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke one of your node keys: it authenticates nothing from now on."""
    with connect(exchange) as client:
        revoked = client.revoke_node_key(key_id)
    if as_json:
        print_json(revoked)
        return
    console.print(f"revoked {plain(revoked['id'])} ({plain(revoked['name'])})", highlight=False)
