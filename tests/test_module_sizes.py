"""Modules stay small and functions short (the project's standard): no module of src/commex
over 400 lines and no function over 60, migrations and the packet plane (stream/, held to the
same limits by its own work) aside. Checked with ``ast``, so it cannot quietly regress."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "commex"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return [
        p
        for p in sorted(SRC.rglob("*.py"))
        if "migrations" not in p.parts and "stream" not in p.relative_to(SRC).parts
    ]


def test_the_check_sees_the_code() -> None:
    names = {p.relative_to(SRC).as_posix() for p in _modules()}
    assert {"services/bus.py", "bootstrap.py", "api/routes.py"} <= names
    assert not any(n.startswith(("stream/", "adapters/sql/migrations/")) for n in names)


def test_no_module_passes_400_lines() -> None:
    long = {
        p.relative_to(SRC).as_posix(): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_passes_60_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SRC).as_posix()}:{node.name}"] = length
    assert long == {}
