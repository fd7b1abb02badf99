"""Where a run reads and writes: a pcap/pcapng path or ``udp://HOST:PORT``.

Reading yields the input in chunks (a file's chunks with read progress; UDP datagrams as they
arrive, until the sender goes quiet), so processing starts before the input ends. Writing sends
the aggregated stream to a pcap file (each packet stamped with its departure time) or to a UDP
address (a shaped stream paced in real time to its departures, an unshaped one sent at once).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream import pcap
from commex.stream.packets import PacketBatch
from commex.stream.rtp import rtp_sizes
from commex.stream.shaping import Schedule, retimed
from commex.stream.udp import UdpSink, UdpSource

_UDP = re.compile(r"^udp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A capture file (``kind == "file"``) or a UDP address (``kind == "udp"``)."""

    kind: Literal["file", "udp"]
    path: str = ""
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, text: str, *, field: str) -> Endpoint:
        """``udp://HOST:PORT`` or a file path; a malformed one is InvalidInput on ``field``."""
        if text.startswith("udp:"):
            m = _UDP.match(text)
            if m is None or int(m["port"]) > 65535:
                raise InvalidInput(
                    f"invalid {field} {text!r}: expected udp://HOST:PORT", field=field
                )
            return cls("udp", host=m["host"].strip("[]"), port=int(m["port"]))
        if not text.strip():
            raise InvalidInput(f"{field} is empty", field=field)
        return cls("file", path=text)

    def __str__(self) -> str:
        return self.path if self.kind == "file" else f"udp://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Part of the input: its packets, malformed or non-RTP records skipped, read progress."""

    batch: PacketBatch
    skipped: int
    bytes_read: int
    total_bytes: int | None


def read(
    endpoint: Endpoint,
    *,
    chunk_bytes: int = pcap.DEFAULT_CHUNK,
    idle_timeout_s: float = 2.0,
    stop: threading.Event | None = None,
    on_ready: Callable[[Endpoint], None] | None = None,
) -> Iterator[Chunk]:
    """The input of ``endpoint`` chunk by chunk; ``on_ready`` hears the bound UDP address
    (port 0 picks a free one) before the first datagram is awaited."""
    if endpoint.kind == "file":
        for c in pcap.iter_chunks(endpoint.path, chunk=chunk_bytes):
            yield Chunk(c.batch, sum(c.skip_reasons.values()), c.bytes_read, c.total_bytes)
        return
    yield from _read_udp(endpoint, idle_timeout_s, stop or threading.Event(), on_ready)


def write(
    endpoint: Endpoint,
    batch: PacketBatch,
    schedule: Schedule | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write ``batch`` to ``endpoint`` on a shaped ``schedule`` (see
    :func:`commex.stream.shaping.shape`), or as it is without one."""
    if schedule is not None and schedule.rate_bps is None:
        schedule = None  # unshaped: the packets keep their own times
    if endpoint.kind == "file":
        pcap.write_pcap(endpoint.path, batch if schedule is None else retimed(batch, schedule))
        return
    with UdpSink(endpoint.host, endpoint.port) as sink:
        if schedule is None:
            sink.send(batch)
        else:
            _paced(sink, batch, schedule, clock, sleep)


def _read_udp(
    endpoint: Endpoint,
    idle_timeout_s: float,
    stop: threading.Event,
    on_ready: Callable[[Endpoint], None] | None,
) -> Iterator[Chunk]:
    with UdpSource(endpoint.host, endpoint.port, idle_timeout=idle_timeout_s) as source:
        if on_ready is not None:
            host, port = source.address
            on_ready(Endpoint("udp", host=host, port=port))
        skipped, received = 0, 0
        for batch in source.batches():
            received += int(rtp_sizes(batch).sum())
            yield Chunk(batch, source.skipped - skipped, received, None)
            skipped = source.skipped
            if stop.is_set():
                return


def _paced(
    sink: UdpSink,
    batch: PacketBatch,
    schedule: Schedule,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Send each packet once its departure (relative to the first) has come: every packet due
    goes in one call, then the sender sleeps until the next one is due."""
    if not len(batch):
        return
    due_s = (schedule.offset_us - schedule.offset_us[0]) / 1e6
    start, sent = clock(), 0
    while sent < len(batch):
        now = clock() - start
        upto = int(np.searchsorted(due_s, now, side="right"))
        if upto > sent:
            sink.send(batch.take(np.arange(sent, upto)))
            sent = upto
        else:
            sleep(float(due_s[sent]) - now)
