"""Handing segments to local worker processes through shared memory, not through a pipe.

Pickling a segment's columns and pushing them through the pool's pipe costs the parent about as
much as a light step costs a worker, and on a two-core machine the parent competes with the
workers. So the parent copies a segment's columns into one of a few preallocated slots (files
in ``/dev/shm``, mapped by both sides) and sends only a small descriptor; the worker maps the
slot once and reads the columns in place. A slot is reused only after its result (or failure)
has come back. Plain file-backed ``mmap`` avoids the resource tracker of ``SharedMemory``,
which on Python 3.11 would unlink a segment when a worker exits.
"""

from __future__ import annotations

import mmap
import os
import secrets
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from commex.stream.packets import PacketBatch, StreamKey

SLOT_BYTES = 4 << 20
_ARRAYS = tuple(f.name for f in fields(PacketBatch) if f.name != "streams")
_ALIGN = 64


Layout = tuple[tuple[str, str, int, int], ...]


@dataclass(frozen=True, slots=True)
class SharedBatch:
    """Where a batch's columns lie in a slot: (column, dtype, length, offset) for each, and
    where the free space after them begins and ends (a worker writes its answer there)."""

    path: str
    layout: Layout
    streams: tuple[StreamKey, ...]
    free_from: int
    size: int


class Slot:
    """One preallocated, mapped shared-memory file."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        # A new file only this user may read: segments carry people's calls.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            # Reserve the space now: a write to a sparse mapping on a full tmpfs would SIGBUS.
            os.posix_fallocate(fd, 0, size)
            self._map = mmap.mmap(fd, size)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        self.size = size

    def put(self, batch: PacketBatch) -> SharedBatch | None:
        """Copy ``batch``'s columns in; None when they do not fit (the caller pickles)."""
        layout = []
        offset = 0
        arrays = [(name, np.ascontiguousarray(getattr(batch, name))) for name in _ARRAYS]
        if sum(a.nbytes + _ALIGN for _, a in arrays) > self.size // 2:  # half for the answer
            return None
        view = np.frombuffer(self._map, dtype=np.uint8)
        for name, array in arrays:
            view[offset : offset + array.nbytes] = array.view(np.uint8).reshape(-1)
            layout.append((name, array.dtype.str, int(array.shape[0]), offset))
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        return SharedBatch(str(self.path), tuple(layout), batch.streams, offset, self.size)

    def take(self, layout: Layout) -> dict[str, Any]:
        """Copies of the columns a worker wrote back (the slot is reused afterwards)."""
        return {
            name: np.frombuffer(self._map, dtype=np.dtype(dtype), count=n, offset=at).copy()
            for name, dtype, n, at in layout
        }

    def close(self) -> None:
        self._map.close()
        self.path.unlink(missing_ok=True)


class SlotPool:
    """``count`` slots of ``size`` bytes, created on first use and removed by :meth:`close`."""

    def __init__(self, count: int, size: int = SLOT_BYTES) -> None:
        self._count = count
        self._size = size
        self._free: list[Slot] = []
        self._all: list[Slot] = []
        self._unavailable = False
        # Memory-backed files when the system has them; names are unguessable and files are
        # created exclusively with mode 0600 (see Slot).
        shm = Path("/dev/shm")  # noqa: S108
        base = shm if shm.is_dir() else Path(tempfile.gettempdir())
        self._prefix = base / f"commex-{os.getpid()}-{secrets.token_hex(4)}"

    def acquire(self) -> Slot | None:
        """A free slot, or None when all are in use."""
        if self._free:
            return self._free.pop()
        if len(self._all) < self._count and not self._unavailable:
            try:
                slot = Slot(Path(f"{self._prefix}-{len(self._all)}"), self._size)
            except OSError:  # no room for shared memory: segments go through the pipe
                self._unavailable = True
                return None
            self._all.append(slot)
            return slot
        return None

    def release(self, slot: Slot) -> None:
        self._free.append(slot)

    def close(self) -> None:
        for slot in self._all:
            slot.close()
        self._all.clear()
        self._free.clear()


_MAPPED: dict[str, mmap.mmap] = {}


def _mapped(path: str) -> mmap.mmap:
    mapped = _MAPPED.get(path)
    if mapped is None:
        with Path(path).open("r+b") as f:
            mapped = _MAPPED[path] = mmap.mmap(f.fileno(), 0)
    return mapped


def write_back(shared: SharedBatch, columns: dict[str, Any]) -> Layout | None:
    """In a worker: put the answer's columns in the slot's free space; None if they do not fit
    (the answer then goes through the pipe)."""
    arrays = [(name, np.ascontiguousarray(value)) for name, value in columns.items()]
    offset = -(-shared.free_from // _ALIGN) * _ALIGN
    if offset + sum(a.nbytes + _ALIGN for _, a in arrays) > shared.size:
        return None
    view = np.frombuffer(_mapped(shared.path), dtype=np.uint8)
    layout = []
    for name, array in arrays:
        view[offset : offset + array.nbytes] = array.view(np.uint8).reshape(-1)
        layout.append((name, array.dtype.str, int(array.shape[0]), offset))
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    return tuple(layout)


def read(shared: SharedBatch) -> PacketBatch:
    """The batch a descriptor points at, as views of the mapped slot (in a worker process)."""
    mapped = _mapped(shared.path)
    columns: dict[str, Any] = {
        name: np.frombuffer(mapped, dtype=np.dtype(dtype), count=length, offset=offset)
        for name, dtype, length, offset in shared.layout
    }
    return PacketBatch(streams=shared.streams, **columns)
