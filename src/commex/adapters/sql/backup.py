"""Online backup and restore of the embedded SQLite database (O5).

A backup copies the live database with SQLite's online backup API while servers keep writing.
It reads inside one read transaction that it holds from the first page to the last: in WAL mode
that is a fixed snapshot which writers do not disturb, so the copy is consistent (every
transaction committed before it started, none after) and it never restarts, however busy the
exchange is. The copy goes page by page (progress can be shown), into a file created 600 beside
the target, checked, synced, and renamed into place only when complete.

A restore checks that a file is a commex database this version can bring up to date, and copies
it into an empty data dir the same way; the caller then applies the migrations.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from commex.adapters.sql.files import FILE_MODE, SIDE_SUFFIXES, secure_sqlite_files
from commex.adapters.sql.migrate import known_revisions
from commex.domain.errors import Conflict, InvalidInput, NotFound

PAGES_PER_STEP = 1024  # 4 MiB at SQLite's default page size: a step takes milliseconds
Progress = Callable[[int, int], None]
"""Told (pages copied, pages in all) after each step of a copy."""

_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class Copy:
    """A finished copy: where it went, its size and the schema revision it holds."""

    path: Path
    pages: int
    size_bytes: int
    revision: str | None


def sqlite_file(url: str, command: str) -> Path:
    """The SQLite file the URL names; PostgreSQL is backed up with its own tools."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        tool = "pg_dump" if command == "backup" else "pg_restore"
        verb = "back it up" if command == "backup" else "restore"
        raise InvalidInput(
            f"the database is PostgreSQL: {verb} with {tool}", field="COMMEX_DATABASE_URL"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise InvalidInput("the database is in memory: nothing to copy", "COMMEX_DATABASE_URL")
    return Path(parsed.database)


def backup(
    database: Path, target: Path, progress: Progress | None = None, *, pages: int = PAGES_PER_STEP
) -> Copy:
    """Copy the live ``database`` to the new file ``target`` (mode 600), consistently, while
    others write. Refuses a ``target`` that exists."""
    if not database.is_file():
        raise NotFound(f"there is no database at {database}: nothing to back up")
    if target.exists() or target.is_symlink():
        raise Conflict(f"{target} exists: back up to a new file", field="PATH")
    if not target.parent.is_dir():
        raise NotFound(f"there is no directory {target.parent} to write the backup in", "PATH")
    # mode=rw: never create the database by opening it.
    source = sqlite3.connect(f"file:{database}?mode=rw", uri=True, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.execute("BEGIN")  # the snapshot the whole copy reads ...
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # ... taken here
        revision = _revision(source)
        copied = _copy_to_new_file(source, target, progress, pages)
        source.execute("COMMIT")
    finally:
        source.close()
    return Copy(target, copied, target.stat().st_size, revision)


def check_backup(path: Path) -> str:
    """The schema revision of the commex backup at ``path``; :class:`InvalidInput` when it is
    not a SQLite database, not a commex one, damaged, or newer than this commex."""
    if not path.is_file():
        raise NotFound(f"there is no backup file at {path}", field="PATH")
    with path.open("rb") as f:
        if f.read(len(_MAGIC)) != _MAGIC:
            raise InvalidInput(f"{path} is not a SQLite database", field="PATH")
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"alembic_version", "accounts"} <= tables:
            raise InvalidInput(f"{path} is a SQLite database but not a commex one", "PATH")
        revision = _revision(conn)
        if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise InvalidInput(f"{path} is damaged (SQLite's quick_check fails)", "PATH")
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} cannot be read as a database: {exc}", "PATH") from exc
    finally:
        conn.close()
    if revision is None or revision not in known_revisions():
        raise InvalidInput(
            f"{path} is at schema revision {revision}, which this commex does not know: "
            "restore it with the commex version that made it, or a newer one",
            field="PATH",
        )
    return revision


def restore(
    backup_file: Path,
    database: Path,
    progress: Progress | None = None,
    *,
    pages: int = PAGES_PER_STEP,
) -> Copy:
    """Copy the commex backup ``backup_file`` into ``database``, whose directory must be empty
    or missing (so nothing is ever overwritten). The schema is left as the backup had it."""
    revision = check_backup(backup_file)
    directory = database.parent
    if directory.exists() and any(directory.iterdir()):
        raise Conflict(
            f"the data dir {directory} is not empty: restore into a new one",
            field="COMMEX_DATA_DIR",
        )
    secure_sqlite_files(database)  # the dir 700 and an empty database file 600
    source = sqlite3.connect(f"file:{backup_file}?mode=ro&immutable=1", uri=True)
    target = sqlite3.connect(database)
    try:
        copied = _copy(source, target, progress, pages)
    except BaseException:
        target.close()
        for path in (database, *(Path(f"{database}{s}") for s in SIDE_SUFFIXES)):
            path.unlink(missing_ok=True)  # leave the data dir as empty as it was
        raise
    finally:
        source.close()
    target.close()
    return Copy(database, copied, database.stat().st_size, revision)


def _copy_to_new_file(
    source: sqlite3.Connection, target: Path, progress: Progress | None, pages: int
) -> int:
    """Copy into a 600 file beside ``target``, check and sync it, then rename it into place."""
    fd, partial_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)  # mkstemp makes it 600
    partial = Path(partial_name)
    try:
        conn = sqlite3.connect(partial)
        try:
            copied = _copy(source, conn, progress, pages)
            if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise InvalidInput(f"the copy of the database failed its check: {partial}")
        finally:
            conn.close()
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        partial.chmod(FILE_MODE)
        os.replace(partial, target)
        _fsync_dir(target.parent)
    finally:
        for path in (partial, *(Path(f"{partial}{s}") for s in SIDE_SUFFIXES)):
            path.unlink(missing_ok=True)
    return copied


def _copy(
    source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None, pages: int
) -> int:
    """SQLite's online backup from ``source`` to ``target``, ``pages`` at a time; the number
    of pages copied."""
    total = [0]

    def step(_status: int, remaining: int, count: int) -> None:
        total[0] = count
        if progress is not None:
            progress(count - remaining, count)

    source.backup(target, pages=pages, progress=step)
    return total[0] or int(target.execute("PRAGMA page_count").fetchone()[0])


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
