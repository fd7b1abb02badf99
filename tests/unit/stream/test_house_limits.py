"""The packet plane keeps the house's limits: no module over 400 lines, no function over 60."""

from __future__ import annotations

import ast
from pathlib import Path

import commex.stream

STREAM = Path(commex.stream.__file__).resolve().parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(STREAM.rglob("*.py"))


def test_the_plane_has_modules_to_check() -> None:
    assert len(_modules()) > 20


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(STREAM)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(STREAM)}:{node.name}"] = length
    assert long == {}
