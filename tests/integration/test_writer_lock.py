"""Writers on one SQLite file queue on a lock beside it, across processes: a process waiting to
write gets its turn as soon as the one before it commits, not after SQLite's busy sleeps."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def _other_process_sees(lock_file: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(lock_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_a_write_transaction_holds_the_writer_lock_for_every_process(tmp_path: Path) -> None:
    factory = SqlUnitOfWorkFactory(make_engine(f"sqlite:///{tmp_path / 'commex.db'}"))
    lock_file = tmp_path / "commex.db-writer"
    try:
        with factory():
            assert lock_file.stat().st_mode & 0o777 == 0o600
            assert _other_process_sees(lock_file) == "busy"
        assert _other_process_sees(lock_file) == "free"
        with factory(write=False):  # readers never queue
            assert _other_process_sees(lock_file) == "free"
    finally:
        factory.dispose()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    factory = SqlUnitOfWorkFactory(make_engine(f"sqlite:///{tmp_path / 'commex.db'}"))
    second_in = threading.Event()

    def second_writer() -> None:
        with factory():
            second_in.set()

    try:
        with factory():
            other = threading.Thread(target=second_writer)
            other.start()
            assert not second_in.wait(0.3)  # it waits while this write is under way
        other.join(10)
        assert second_in.is_set()  # and its turn came once this one ended
    finally:
        factory.dispose()


def test_a_turn_to_write_holds_the_lock_across_the_writes_inside_it(tmp_path: Path) -> None:
    factory = SqlUnitOfWorkFactory(make_engine(f"sqlite:///{tmp_path / 'commex.db'}"))
    lock_file = tmp_path / "commex.db-writer"
    try:
        with factory.write_turn():
            with factory():  # the holder does not wait for itself
                assert _other_process_sees(lock_file) == "busy"
            assert _other_process_sees(lock_file) == "busy"  # still this turn
            with factory():
                pass
        assert _other_process_sees(lock_file) == "free"
    finally:
        factory.dispose()
