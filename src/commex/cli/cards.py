"""`commex card`: a recipient's saved payment cards (add, list, remove, choose the default).

The card number and CVC are never command-line arguments (they would stay in the shell's history
and show in the process list): they are asked for without echo, or read from standard input, one
per line, when it is not a terminal.
"""

from __future__ import annotations

import re
import sys
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
from commex.domain.errors import InvalidInput

app = typer.Typer(help="Payment cards of a recipient account.", no_args_is_help=True)

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{4})\s*$")


def _secret(prompt: str) -> str:
    """A secret from the terminal without echo, or the next line of standard input."""
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True))
    return sys.stdin.readline().strip()


def _expiry(text: str) -> tuple[int, int]:
    m = _EXPIRY.match(text)
    if m is None:
        # never repeat what was typed: it may be a card number pasted into the wrong place
        raise InvalidInput("--exp must look like 12/2030 (month/year)", "exp")
    return int(m[1]), int(m[2])


def _line(card: dict[str, Any]) -> str:
    default = "  (default)" if card["default"] else ""
    expiry = f"{card['exp_month']:02d}/{card['exp_year']}"
    return f"{card['id']}  {card['brand']} ending in {card['last4']}, expires {expiry}{default}"


def _print_cards(cards: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json({"items": cards})
        return
    if not cards:
        console.print("no cards saved")
        return
    table = Table("id", "card", "expires", "default")
    for c in cards:
        expiry = f"{c['exp_month']:02d}/{c['exp_year']}"
        table.add_row(
            c["id"], f"{c['brand']} ending in {c['last4']}", expiry, "yes" if c["default"] else ""
        )
    console.print(table)


@app.command("add")
@handle_errors
def add(
    exp: str = typer.Option(..., "--exp", help="The card's expiry, month/year: 12/2030."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Save a card of the recipient whose API token is in COMMEX_TOKEN. Asks for the number and
    CVC without echo (or reads them from standard input, one per line)."""
    month, year = _expiry(exp)
    number = _secret("Card number")
    cvc = _secret("CVC")
    with connect(exchange) as client:
        card = client.add_card(number, month, year, cvc)
    if as_json:
        print_json(card)
        return
    console.print(f"saved {_line(card)}", highlight=False, soft_wrap=True)


@app.command("list")
@handle_errors
def list_cards(exchange: str = EXCHANGE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Your saved cards, oldest first; the default is the one you are charged on."""
    with connect(exchange) as client:
        cards = client.cards()
    _print_cards(cards, as_json)


@app.command("remove")
@handle_errors
def remove(
    card_id: str = typer.Argument(..., help="The card's id (see `commex card list`)."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove one of your cards; if it was the default, the newest card left takes its place."""
    with connect(exchange) as client:
        cards = client.remove_card(card_id)
    if not as_json:
        console.print(f"removed {card_id}", highlight=False)
    _print_cards(cards, as_json)


@app.command("default")
@handle_errors
def default(
    card_id: str = typer.Argument(..., help="The card's id (see `commex card list`)."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Be charged on this card from now on."""
    with connect(exchange) as client:
        card = client.default_card(card_id)
    if as_json:
        print_json(card)
        return
    console.print(f"default {_line(card)}", highlight=False, soft_wrap=True)
