"""`commex serve --demo` (what `make run` starts) on a fresh database, as a user meets it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.net import answers, free_port, wait_until


def test_serve_demo_prints_the_logins_and_serves_the_demo_exchange(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, COMMEX_DATA_DIR=str(tmp_path), COLUMNS="200")
    env.pop("COMMEX_DATABASE_URL", None)
    exe = str(Path(sys.executable).with_name("commex"))
    proc = subprocess.Popen(
        [exe, "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        printed = []
        deadline = time.monotonic() + 60
        while not any("commex is serving at" in line for line in printed):
            assert time.monotonic() < deadline, printed
            printed.append(proc.stdout.readline())
        out = "".join(printed)
        assert "commex-demo-password" in out and "Harbour Family" in out
        token = re.search(r"Harbour Family.*?API token: (cx_\S+)", out, re.S)
        assert token is not None
        wait_until(lambda: answers(f"{base}/v1/health"), "the demo server", 60)
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        items = httpx.get(f"{base}/v1/auctions?status=open", headers=auth).json()["items"]
        formats = {(a["direction"], a["format"]) for a in items}
        assert len(formats) == 6  # every format, both directions
        owners = {a["owner"]["name"]: a["owner"]["reputation"]["summary"] for a in items}
        assert owners["Northwind Carrier"].startswith("100% positive, 2 ratings")
        home = httpx.get(f"{base}/")
        assert home.status_code == 200 and "Northwind Carrier" in home.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
