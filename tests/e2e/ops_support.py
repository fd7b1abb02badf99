"""`commex serve` as an operator runs it (extra options, its stderr kept in a file), and the
figures of a Prometheus exposition, read with prometheus-client's own parser."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from serve_support import EXE, answers, free_port, wait_until


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    stderr: Path


@contextmanager
def commex_serving(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """`commex serve ARGS` on a free port over a SQLite file in ``data_dir``; its stderr goes to
    ``data_dir/../serve.stderr``. Stopped (SIGTERM, waited for) on exit."""
    port = free_port()
    full = dict(os.environ, COMMEX_DATA_DIR=str(data_dir))
    for name in ("COMMEX_DATABASE_URL", "COMMEX_PAYMENT_GATEWAY", "PROMETHEUS_MULTIPROC_DIR"):
        full.pop(name, None)
    full.update(env or {})
    stderr = data_dir.parent / f"serve-{port}.stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port), *args],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is not None or answers(f"{url}/v1/health"), "commex serve", 60
        )
        assert proc.poll() is None, f"commex serve exited: {stderr.read_text()}"
        yield Served(url, port, stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    """One sample's value (0 when the series has not appeared yet)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    """The sum of a family's samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and want <= set(ls))


def operator_token(data_dir: Path, name: str = "Op") -> str:
    """`commex operator create NAME` over ``data_dir``: the token it prints."""
    env = dict(os.environ, COMMEX_DATA_DIR=str(data_dir))
    env.pop("COMMEX_DATABASE_URL", None)
    done = subprocess.run(
        [EXE, "operator", "create", name], env=env, capture_output=True, text=True, check=True
    )
    tokens = [w for w in done.stdout.split() if w.startswith("cx_")]
    assert tokens, done.stdout
    return tokens[0]


def free_ports(n: int) -> Sequence[int]:
    return [free_port() for _ in range(n)]
