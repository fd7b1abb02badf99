"""The probe's memory finding, against a real `commex serve`: 24 concurrent bad logins took the
server from 123 MB to 1.16 GB (argon2 at 64 MiB each). The hashes in flight are now bounded, so
the server's peak resident memory (``VmHWM`` in ``/proc/PID/status``) stays within a few hashes
of where it started."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from serve_support import EXE, answers, free_port, wait_until

from commex.adapters.passwords import default_parallel

ARGON2_MIB = 64  # argon2-cffi's default memory cost, which `commex serve` uses
CONCURRENT = 24


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.mark.slow
def test_concurrent_bad_logins_keep_the_server_memory_bounded(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, COMMEX_DATA_DIR=str(tmp_path))
    env.pop("COMMEX_DATABASE_URL", None)
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or answers(f"{url}/v1/health"), "serve", 60)
        body = {"name": "Victim", "roles": ["recipient"], "password": "the right passphrase"}
        assert httpx2.post(f"{url}/v1/accounts", json=body, timeout=30).status_code == 201
        one = {"name": "Victim", "password": "a wrong passphrase"}
        assert httpx2.post(f"{url}/login", data=one, timeout=30).status_code == 401
        before = _kib(proc.pid, "VmRSS")

        def bad_login(i: int) -> int:
            data = {"name": f"Guess {i}", "password": f"wrong passphrase {i}"}
            return httpx2.post(f"{url}/login", data=data, timeout=60).status_code

        with ThreadPoolExecutor(CONCURRENT) as pool:
            statuses = list(pool.map(bad_login, range(CONCURRENT)))
        peak = _kib(proc.pid, "VmHWM")
        assert set(statuses) <= {401, 429}
        grown_mib = (peak - before) / 1024
        print(
            f"RSS before {before / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB, grown {grown_mib:.0f}"
        )
        # At most default_parallel() hashes at once, each 64 MiB, plus some slack for threads.
        bound = (default_parallel() + 1) * ARGON2_MIB + 64
        assert grown_mib < bound, f"the server grew {grown_mib:.0f} MiB (bound {bound} MiB)"
        assert httpx2.get(f"{url}/v1/health", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
