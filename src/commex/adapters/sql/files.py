"""The embedded database's files hold the exchange's secrets (password hashes, token digests,
gateway tokens), so only their owner may read them: the data dir is 700 and ``commex.db`` with
its ``-wal``, ``-shm`` and ``-journal`` files 600.

The database file is created 600 before SQLite opens it, and SQLite gives the files it makes
beside it the database file's mode, so no file is ever readable by others, not even for a
moment. Files and a data dir left looser by an earlier version (or by hand) are tightened, and
the caller is told what was changed so it can say so once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SIDE_SUFFIXES = ("-wal", "-shm", "-journal", "-writer")


def secure_sqlite_files(database: Path) -> list[str]:
    """Create ``database``'s directory (700) and the file itself (600) if they are missing,
    and tighten whichever of them, or of its side files, others may read or write. Returns
    one line for each thing changed or left open (empty when all was already tight)."""
    notes: list[str] = []
    directory = database.parent
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    note = _tighten_dir(directory)
    if note:
        notes.append(note)
    fd = os.open(database, os.O_RDWR | os.O_CREAT, FILE_MODE)  # no-op on an existing file
    os.close(fd)
    for path in (database, *(Path(f"{database}{s}") for s in SIDE_SUFFIXES)):
        note = _tighten_file(path)
        if note:
            notes.append(note)
    return notes


def loose(mode: int) -> bool:
    """Whether a file mode lets anyone but the owner in."""
    return bool(stat.S_IMODE(mode) & 0o077)


def _tighten_dir(directory: Path) -> str | None:
    info = directory.stat()
    if not loose(info.st_mode):
        return None
    was = stat.S_IMODE(info.st_mode)
    # A shared directory (sticky, like /tmp) or someone else's is not ours to close: the files
    # in it are 600 all the same.
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.geteuid():
        return f"the data dir {directory} is open to others (mode {was:o}); its files are 600"
    directory.chmod(DIR_MODE)
    return f"tightened the data dir {directory} from mode {was:o} to {DIR_MODE:o}"


def _tighten_file(path: Path) -> str | None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or not loose(info.st_mode):
        return None
    was = stat.S_IMODE(info.st_mode)
    path.chmod(FILE_MODE)
    return f"tightened {path.name} from mode {was:o} to {FILE_MODE:o}"
