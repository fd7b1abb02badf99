"""Every command the `commex` tool offers is documented: it has help text and the README
names it (a command nobody can find is a command nobody uses)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.main import get_command

from commex.cli import registry

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _commands() -> list[tuple[str, str]]:
    out = []
    for module, attr, name in registry.GROUPS:
        if name in registry.HIDDEN:
            continue
        cmd = get_command(getattr(importlib.import_module(module), attr))
        subs = getattr(cmd, "commands", None)
        if subs:
            out += [(f"commex {name} {sub}", c.help or "") for sub, c in subs.items()]
        else:
            out.append((f"commex {name}", cmd.help or ""))
    return out


@pytest.mark.parametrize(("command", "help_text"), _commands())
def test_every_command_has_help_and_is_in_the_readme(command: str, help_text: str) -> None:
    assert help_text.strip(), f"{command} has no help text"
    assert command in README, f"README.md does not mention `{command}`"
