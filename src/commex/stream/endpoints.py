"""Where a run reads and writes: a pcap/pcapng path or ``udp://HOST:PORT``.

A capture is read in chunks with read progress, so processing starts before the input ends
and a long capture is never held whole. Live UDP input is read by
:mod:`commex.stream.ingest`; outputs are in :mod:`commex.stream.outputs` and
:mod:`commex.stream.playout`.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from commex.domain.errors import InvalidInput
from commex.stream import pcap
from commex.stream.packets import PacketBatch

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


def read(endpoint: Endpoint, *, chunk_bytes: int = pcap.DEFAULT_CHUNK) -> Iterator[Chunk]:
    """The packets of a capture, chunk by chunk."""
    for c in pcap.iter_chunks(endpoint.path, chunk=chunk_bytes):
        yield Chunk(c.batch, sum(c.skip_reasons.values()), c.bytes_read, c.total_bytes)


_DONE = object()
T = TypeVar("T")


def read_ahead(
    endpoint: Endpoint,
    prepare: Callable[[Chunk], T],
    *,
    chunk_bytes: int = pcap.DEFAULT_CHUNK,
) -> Generator[T, None, None]:
    """``prepare(chunk)`` for every chunk of :func:`read`, on a thread of its own, one chunk
    ahead: reading, decoding and preparing the next chunk (file reads and most array work let
    other threads run) overlaps with processing and writing this one. At most two chunks are
    held beyond the one in hand."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Hand ``item`` over unless the reader is gone; whether it was."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in read(endpoint, chunk_bytes=chunk_bytes):
                if not offer(prepare(chunk)):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the reader, who raises it
            offer(exc)

    reader = threading.Thread(target=produce, name="commex-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)
    finally:
        stop.set()
        reader.join()
