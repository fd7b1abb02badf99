"""Run the ``wrk`` load generator (Debian package ``wrk``) with ``wrk_load.lua`` and read back
what it measured: the rate of 2xx answers, every other answer counted apart, and wrk's own
latency distribution."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk_load.lua")
_MARK = "WRK_RESULT "


@dataclass(frozen=True)
class Load:
    """What one wrk run measured. ``rate`` counts 2xx answers only; the latencies are wrk's
    over every answer (so they include any non-2xx one: see ``not_ok``)."""

    seconds: float
    ok: int
    not_ok: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self) | {"rate": round(self.rate, 1)}


@dataclass(frozen=True)
class Settings:
    """wrk's load shape: open connections, wrk threads, seconds per run."""

    connections: int = 32
    threads: int = 1
    seconds: int = 8

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def wrk_path() -> str:
    """The ``wrk`` executable, or a RuntimeError saying how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError(
            "wrk is not installed: run `bash scripts/test-setup` (as root) or `apt-get install wrk`"
        )
    return found


def parse(stdout: str) -> Load:
    """The figures from the ``WRK_RESULT`` line that ``wrk_load.lua`` prints at the end."""
    for line in stdout.splitlines():
        if line.startswith(_MARK):
            raw = json.loads(line[len(_MARK) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result line:\n{stdout}")
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Load(
        seconds=raw["duration_us"] / 1e6,
        ok=raw["ok"],
        not_ok=raw["not_ok"],
        socket_errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def run(
    url: str,
    settings: Settings,
    paths: Sequence[str] = (),
    tokens: Sequence[str] = (),
) -> Load:
    """Load ``url`` for ``settings.seconds``: GET it, or, given ``paths`` and ``tokens``, POST
    bids to those paths on its host with the tokens in turn. A request that takes over 30 s
    counts as a timeout (a socket error), not as a latency."""
    command = [
        wrk_path(),
        f"--connections={settings.connections}",
        f"--threads={settings.threads}",
        f"--duration={settings.seconds}s",
        "--timeout=30s",
        f"--script={SCRIPT}",
        url,
    ]
    if paths:
        if not tokens:
            raise ValueError("POSTs need at least one token")
        command += ["--", ",".join(paths), ",".join(tokens)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=settings.seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)
