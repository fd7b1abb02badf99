"""The `commex` command: one Typer app with a sub-app per area."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="commex",
    help="commex: an open exchange for communications services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each area registers its own commands; imported here so `commex --help` lists them all.
    from commex.cli import registry

    registry.register_all(app)


def main() -> None:
    """Console-script entrypoint."""
    _register()
    app()
