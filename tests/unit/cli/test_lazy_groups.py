"""`commex` imports only the command group a command line names: `commex --help` lists every
group by a help line of its own, which must say what the group itself says."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from commex.cli import registry
from commex.cli import stream as stream_cli
from commex.stream import metering, pipeline

_HEAVY = ("fastapi", "sqlalchemy", "dask", "numpy", "httpx", "uvicorn", "commex.stream.pipeline")


def _modules_loaded_by(*argv: str) -> set[str]:
    """The modules a `commex ARGV` process has imported when it exits."""
    script = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('\\nMODULES', ' '.join(sorted(sys.modules))))\n"
        "from commex.cli.main import main\n"
        f"sys.argv = ['commex', *{list(argv)!r}]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize(("module", "attr", "name"), registry.GROUPS)
def test_each_groups_listed_help_is_its_own(module: str, attr: str, name: str) -> None:
    sub = getattr(importlib.import_module(module), attr)
    assert registry.HELP[name] == sub.info.help


def test_the_top_help_lists_every_group_without_importing_one() -> None:
    loaded = _modules_loaded_by("--help")
    assert not {m for m, _, _ in registry.GROUPS} & loaded
    assert not {m for m in loaded if m.split(".")[0] in _HEAVY or m in _HEAVY}


def test_stream_process_help_imports_neither_the_plane_nor_the_server() -> None:
    loaded = _modules_loaded_by("stream", "process", "--help")
    assert "commex.cli.stream" in loaded
    heavy = {m for m in loaded if m.split(".")[0] in _HEAVY or m in _HEAVY}
    assert not heavy


def test_the_listing_shows_every_visible_group() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from commex.cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for _, _, name in registry.GROUPS:
        assert (name in done.stdout.split()) is (name not in registry.HIDDEN), name


def test_the_stream_help_shows_the_planes_own_defaults() -> None:
    assert stream_cli.DEFAULT_SEGMENT == pipeline.DEFAULT_SEGMENT
    assert stream_cli.LIVE_SEGMENT == pipeline.LIVE_SEGMENT
    assert stream_cli.LIVE_CONTEXT_SEGMENT == pipeline.LIVE_CONTEXT_SEGMENT
    assert stream_cli.DEFAULT_METER_EVERY_S == metering.DEFAULT_EVERY_S
