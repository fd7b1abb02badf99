"""A queue in front of SQLite's write lock, shared by every process on one database file.

SQLite lets one writer in at a time; a process that finds the lock taken sleeps in SQLite's busy
handler for 1, 2, 5, 10 ... up to 100 ms before it looks again, so with several server processes
(``commex serve --workers N``) a write waits for a sleep to end rather than for the writer before
it. :class:`WriterLock` makes the waiting explicit: a write transaction first takes an exclusive
``flock`` on ``commex.db-writer`` beside the database (one thread of this process at a time,
then one process at a time), which the kernel hands to a waiter as soon as it is released.
SQLite's own locking still guards the data; this only orders the writers.

The thread that holds the lock may enter it again (a desk takes its turn to write, then collects
its batch and opens the batch's unit of work inside that turn); it is released at the last exit.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType

from commex.adapters.sql.files import FILE_MODE


class WriterLock:
    """Held for the whole of a write transaction on the SQLite file ``database``."""

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}-writer")
        self._threads = threading.RLock()
        self._depth = 0  # how many times the holding thread has entered
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._depth > 0:
            self._depth += 1
            return
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._depth = 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
