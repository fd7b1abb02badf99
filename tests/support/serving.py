"""A real commex server in a thread of the test process, on a free loopback port."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from commex.bootstrap import Services
from commex.server import create_server
from support.net import answers, free_port, wait_until


@contextmanager
def serving(services: Services, *, scheduler: bool = True) -> Iterator[str]:
    """Serve ``services`` (with the closing scheduler unless told otherwise) until the block
    ends; yields the base URL once the server answers."""
    port = free_port()
    config = uvicorn.Config(
        create_server(services, scheduler=scheduler),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="commex-test-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/v1/health") or not thread.is_alive(), "the server", 15)
        if not thread.is_alive():
            pytest.fail("the server did not start")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def stop_all(procs: list[subprocess.Popen[str]]) -> None:
    """Ask every process still running to stop (SIGTERM), then wait for each and close its
    stderr pipe."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)
        if p.stderr:
            p.stderr.close()
