"""Where every command group joins the `commex` app (one line per area)."""

from __future__ import annotations

import importlib

import typer

# (module, attribute, command name): each module holds a Typer sub-app.
GROUPS: list[tuple[str, str, str]] = []


def register_all(app: typer.Typer) -> None:
    """Attach every command group in :data:`GROUPS` to ``app``."""
    for module, attr, name in GROUPS:
        sub = getattr(importlib.import_module(module), attr)
        app.add_typer(sub, name=name)
