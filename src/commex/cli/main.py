"""The `commex` command: one Typer app with a sub-app per area (see :mod:`registry`)."""

from __future__ import annotations

from commex.cli.registry import build_app


def main() -> None:
    """Console-script entrypoint."""
    build_app()()
