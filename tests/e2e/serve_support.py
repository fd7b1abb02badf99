"""What the tests that drive real `commex` processes share: a free port, polling for a condition
with a deadline, `commex serve` over a fresh data directory, and running a command as a user
would (its own environment, a terminal's default width)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from support.net import answers, free_port, wait_until

__all__ = ["EXE", "answers", "commex_server", "free_port", "run_commex", "wait_until"]

EXE = str(Path(sys.executable).with_name("commex"))


@contextmanager
def commex_server(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`commex serve` (with its scheduler) on a free port over a fresh SQLite file in
    ``data_dir``, the payment gateway the built-in test one unless ``env`` says otherwise;
    its URL once healthy. The process is stopped on exit."""
    port = free_port()
    full = dict(os.environ, COMMEX_DATA_DIR=str(data_dir))
    for name in ("COMMEX_DATABASE_URL", "COMMEX_PAYMENT_GATEWAY"):
        full.pop(name, None)
    full.update(env or {})
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is not None or answers(f"{url}/v1/health"), "commex serve", 60
        )
        assert proc.poll() is None, "commex serve exited"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_commex(
    *args: str,
    token: str = "",
    exchange: str = "",
    stdin: str = "",
    data_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `commex ARGS` with ``COMMEX_TOKEN`` and ``COMMEX_EXCHANGE`` set (and the local
    database in ``data_dir``, for commands that use one), at a terminal's default width, so an
    error must fit one line."""
    env = dict(os.environ, COMMEX_TOKEN=token, COMMEX_EXCHANGE=exchange)
    if data_dir is not None:
        env["COMMEX_DATA_DIR"] = str(data_dir)
        env.pop("COMMEX_DATABASE_URL", None)
    env.pop("COLUMNS", None)
    return subprocess.run(
        [EXE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
