"""Where every command group joins the `commex` app (one line per area).

`commex` loads groups lazily (:func:`build_app` with ``only``): `commex --help` lists every group
from :data:`HELP` without importing any, and a group's module (with whatever it needs: the
server, the database, the packet plane) is imported only when that group is named."""

from __future__ import annotations

import importlib

import typer

# (module, attribute, command name): each module holds a Typer sub-app.
GROUPS: list[tuple[str, str, str]] = [
    ("commex.cli.login", "login_app", "login"),
    ("commex.cli.login", "logout_app", "logout"),
    ("commex.cli.db", "app", "db"),
    ("commex.cli.accounts", "app", "account"),
    ("commex.cli.auctions", "app", "auction"),
    ("commex.cli.auctions", "app", "auctions"),
    ("commex.cli.demo", "app", "demo"),
    ("commex.cli.serve", "app", "serve"),
    ("commex.cli.operator", "app", "operator"),
    ("commex.cli.stream", "app", "stream"),
    ("commex.cli.node", "app", "node"),
    ("commex.cli.devices", "app", "device"),
    ("commex.cli.contracts", "app", "contract"),
    ("commex.cli.providers", "app", "provider"),
    ("commex.cli.groups", "app", "group"),
    ("commex.cli.billing", "app", "billing"),
    ("commex.cli.cards", "app", "card"),
    ("commex.cli.notifications", "app", "notification"),
    ("commex.cli.notifications", "app", "notifications"),
    ("commex.cli.notifications", "hooks", "webhook"),
    ("commex.cli.nodekeys", "app", "node-key"),
    ("commex.cli.subcontracts", "app", "subcontract"),
]
# Each group's help line, as its sub-app says it (a test checks that they agree), so that
# `commex --help` can list the groups without importing them.
HELP: dict[str, str] = {
    "login": "Save the exchange and your API token as a profile.",
    "logout": "Forget a saved profile.",
    "db": "The database: migrations, schema revision, backup and restore.",
    "account": "Accounts: providers and recipients.",
    "auction": "Auctions: forward block sales and reverse procurements.",
    "auctions": "Auctions: forward block sales and reverse procurements.",
    "demo": "Run a short demo of a forward and a reverse auction (database file).",
    "serve": "Run the exchange server.",
    "operator": "The operator (needs the database file): operator accounts, and closing and "
    "charging what is due, for cron.",
    "stream": "The packet-stream plane: process RTP streams.",
    "node": "A processing node serving steps over HTTP.",
    "device": "Client devices of a recipient's users.",
    "contract": "Contracts: members, usage and ratings.",
    "provider": "A provider's contracts and capacity.",
    "group": "Groups of recipients that buy together.",
    "billing": "Charges of awarded contracts.",
    "card": "Payment cards of a recipient account.",
    "notification": "Your notification centre: what happened that concerns you.",
    "notifications": "Your notification centre: what happened that concerns you.",
    "webhook": "Webhooks: your events, signed, sent to a program.",
    "node-key": "Keys for your processing nodes.",
    "subcontract": "Subcontracts between providers.",
}
# Plural spellings accepted for convenience but not listed in --help.
HIDDEN = {"auctions", "notifications"}
EVERY = "*"


def build_app(only: str | None = EVERY) -> typer.Typer:
    """The whole `commex` app. With ``only``, just that group is imported (None: none) and
    every other is listed by its line in :data:`HELP`, as `commex --help` shows it."""
    app = typer.Typer(
        name="commex",
        help="commex: an open exchange for communications services.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,  # plain help: Rich's help formatter costs more than the rest
    )
    for module, attr, name in GROUPS:
        if only in (EVERY, name):
            sub = getattr(importlib.import_module(module), attr)
        else:
            sub = _listed(HELP[name])
        app.add_typer(sub, name=name, hidden=name in HIDDEN)
    return app


def group_named(argv: list[str]) -> str | None:
    """The group a command line names (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def _listed(help_line: str) -> typer.Typer:
    """A stand-in for a group that is not used by this command line: its help line only."""
    stand_in = typer.Typer(help=help_line)

    @stand_in.callback()
    def _group() -> None:
        pass

    return stand_in
