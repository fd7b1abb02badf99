"""Synthetic batches, test steps and an in-thread node server for the packet-plane tests.

The steps here are top-level and picklable, so spawned pool workers and Dask workers import
them by name like the real registry.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch, StreamKey
from commex.stream.steps.base import DtmfEvent, Step, StepOutput, StepSpec

REPO = Path(__file__).resolve().parents[3]
CAPTURES = REPO.parent / "shared" / "testdata" / "captures"
FAX = CAPTURES / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
TOKEN = "test-node-token"


def make_batch(
    n: int, *, streams: int = 2, payload: int = 160, pt: int = 8, seed: int = 7
) -> PacketBatch:
    """``n`` packets spread round-robin over ``streams`` streams, 20 ms apart per stream."""
    rng = np.random.default_rng(seed)
    stream = (np.arange(n) % streams).astype(np.int32)
    per_stream = np.arange(n) // streams
    keys = tuple(
        StreamKey("10.0.0.1", 4000 + 2 * s, "10.0.0.2", 5000 + 2 * s, 0x1000 + s)
        for s in range(streams)
    )
    return PacketBatch(
        index=np.arange(n, dtype=np.int64),
        stream=stream,
        arrival_us=(per_stream * 20_000 + stream * 7).astype(np.int64),
        seq=((per_stream + 100 * stream) % 65536).astype(np.uint16),
        timestamp=(per_stream * 160 + 1000 * stream).astype(np.uint32),
        ssrc=np.array([k.ssrc for k in keys], dtype=np.uint32)[stream],
        payload_type=np.full(n, pt, dtype=np.uint8),
        marker=np.zeros(n, dtype=np.bool_),
        csrc_count=np.zeros(n, dtype=np.uint8),
        has_extension=np.zeros(n, dtype=np.bool_),
        payload=rng.integers(0, 256, n * payload, dtype=np.uint8),
        offsets=np.arange(n + 1, dtype=np.int64) * payload,
        header_extra=np.zeros(0, dtype=np.uint8),
        extra_offsets=np.zeros(n + 1, dtype=np.int64),
        streams=keys,
    )


def same(a: PacketBatch, b: PacketBatch) -> bool:
    """Whether two batches hold the same rows, column by column."""
    names = ("index", "stream", "arrival_us", "seq", "timestamp", "ssrc", "payload_type")
    names += ("marker", "csrc_count", "has_extension", "payload", "offsets", "header_extra")
    names += ("extra_offsets",)
    return a.streams == b.streams and all(
        np.array_equal(getattr(a, c), getattr(b, c)) for c in names
    )


class _Invert:
    """``invert``: every payload byte XOR 0xFF."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        return StepOutput(replace(batch, payload=batch.payload ^ 0xFF))


class _Tag:
    """``tag``: a DTMF event per segment naming its first packet (for merge checks)."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        if not len(batch):
            return StepOutput(batch)
        first = int(batch.index.min())
        return StepOutput(batch, (DtmfEvent("5", int(batch.ssrc[0]), first, 1, "inband"),))


class _Slow:
    """``slow:N``: N rounds of a numpy checksum over the payload, for scaling figures."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.rounds = int(spec.arg or "1")

    def apply(self, batch: PacketBatch) -> StepOutput:
        acc = batch.payload.astype(np.int64)
        for _ in range(self.rounds):
            acc = (acc * 31 + 7) % 65521
        return StepOutput(batch)


class _Killer:
    """``killer:I``: the first worker to see packet I dies (a marker file makes it once)."""

    def __init__(self, spec: StepSpec, marker: str) -> None:
        self.spec = spec
        self.target = int(spec.arg or "0")
        self.marker = Path(marker)

    def apply(self, batch: PacketBatch) -> StepOutput:
        if self.target in batch.index.tolist():
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return StepOutput(batch)
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return StepOutput(batch)


class _Stall:
    """``stall:MS``: the first worker to run it sleeps MS milliseconds (a marker file makes it
    once); any later run of it is quick. Stands in for a worker or node that went slow."""

    def __init__(self, spec: StepSpec, marker: str) -> None:
        self.spec = spec
        self.seconds = int(spec.arg or "1000") / 1000
        self.marker = Path(marker)

    def apply(self, batch: PacketBatch) -> StepOutput:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return StepOutput(batch)
        os.close(fd)
        time.sleep(self.seconds)
        return StepOutput(batch)


class _Fail:
    """``fail``: always refuses its input."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        raise InvalidInput("this step always fails", field="step")


class _Drop:
    """``drop``: keeps the packets with an even index (stands in for VAD)."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        return StepOutput(batch.take(batch.index % 2 == 0))


FAKE_STEPS = ("invert", "tag", "slow", "fail", "drop", "vad")


def fake_step_factory(spec: StepSpec, marker: str = "") -> Step:
    """Build one of the test steps (``vad`` here is ``drop`` under the real dropping name)."""
    if spec.name == "killer":
        return _Killer(spec, marker)
    if spec.name == "stall":
        return _Stall(spec, marker)
    kinds: dict[str, Any] = {
        "invert": _Invert,
        "tag": _Tag,
        "slow": _Slow,
        "fail": _Fail,
        "drop": _Drop,
        "vad": _Drop,
    }
    if spec.name not in kinds:
        raise InvalidInput(f"unknown test step {spec.name!r}", field="step")
    step: Step = kinds[spec.name](spec)
    return step


@contextmanager
def serve_in_thread(app: Any, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("node server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
