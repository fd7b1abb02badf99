"""`import commex` offers the engine as a library user needs it (SPEC I5): every name it lists
resolves, every command, query and result and every error class of the code base is among
them, importing it loads no database or web framework, and the README's library example runs
as printed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import commex
from commex.domain.errors import CommexError
from commex.services import (
    commands,
    queries,
    results,
    subcontract_messages,
    subcontract_results,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_listed_name_resolves_and_nothing_else_is_listed() -> None:
    listed = set(commex.__all__) - {"__version__"}
    assert listed == set(commex._WHERE)
    for name in listed:
        assert getattr(commex, name) is not None


def test_every_command_query_and_result_is_offered() -> None:
    for module in (commands, queries, results, subcontract_messages, subcontract_results):
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                assert name in commex.__all__, f"{module.__name__}.{name} is not in commex"


def test_every_error_class_of_the_code_base_is_offered() -> None:
    for info in pkgutil.walk_packages(commex.__path__, "commex."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, CommexError)
                and value.__module__ == module.__name__
            ):
                assert getattr(commex, name, None) is value, f"{info.name}.{name} is missing"


def test_importing_commex_loads_no_database_or_web_framework() -> None:
    code = "import sys, commex; commex.Money; commex.PlaceBid; print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("sqlalchemy", "fastapi", "typer", "stripe", "dask"):
        assert f"'{heavy}'" not in loaded, heavy


def test_the_readme_library_example_runs_as_printed() -> None:
    text = README.read_text()
    section = text[text.index("## The library") :]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    names = set(re.findall(r"commex\.(\w+)", example.group(1)))
    assert names <= set(commex.__all__)  # the example uses what commex itself offers
    done = subprocess.run(
        [sys.executable, "-c", example.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["10.00 no ratings yet", "10.00 1", "you cannot bid on your own auction"]
