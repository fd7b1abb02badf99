"""Where every command group joins the `commex` app (one line per area)."""

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
]
# Plural spellings accepted for convenience but not listed in --help.
HIDDEN = {"auctions", "notifications"}


def build_app() -> typer.Typer:
    """The whole `commex` app with every group in :data:`GROUPS` attached."""
    app = typer.Typer(
        name="commex",
        help="commex: an open exchange for communications services.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module, attr, name in GROUPS:
        sub = getattr(importlib.import_module(module), attr)
        app.add_typer(sub, name=name, hidden=name in HIDDEN)
    return app
