"""The `commex` command: one Typer app with a sub-app per area (see :mod:`registry`)."""

from __future__ import annotations

import sys

from commex.cli.registry import build_app, group_named


def main() -> None:
    """Console-script entrypoint: imports only the group the command line names."""
    build_app(only=group_named(sys.argv[1:]))()
