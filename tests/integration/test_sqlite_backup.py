"""The online backup of the SQLite database: a consistent snapshot that completes while another
connection commits between every step of the copy, and nothing half-written left behind."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from commex.adapters.sql import backup
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import head, upgrade

ROWS = 3000


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A migrated commex database with a few MiB of rows besides."""
    path = tmp_path / "data" / "commex.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE flood (id INTEGER PRIMARY KEY, pad BLOB)")
        conn.executemany("INSERT INTO flood (pad) VALUES (randomblob(1000))", [()] * ROWS)
    return path


def test_a_backup_is_a_snapshot_even_when_every_step_sees_a_new_commit(
    database: Path, tmp_path: Path
) -> None:
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    seen: list[tuple[int, int]] = []

    def commit_between_steps(done: int, total: int) -> None:
        seen.append((done, total))
        writer.execute("INSERT INTO flood (pad) VALUES (randomblob(1000))")  # autocommits
        assert len(seen) < 10_000, "the copy keeps restarting"

    out = tmp_path / "backups"
    out.mkdir()
    copy = backup.backup(database, out / "copy.db", commit_between_steps, pages=8)
    writer.close()

    assert len(seen) > 50  # many steps, a commit after each
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == seen[-1][1]
    assert copy.pages == seen[-1][1] and copy.revision == head()
    assert sorted(p.name for p in out.iterdir()) == ["copy.db"]  # no partial file left
    assert stat.S_IMODE((out / "copy.db").stat().st_mode) == 0o600
    with sqlite3.connect(f"file:{out / 'copy.db'}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM flood").fetchone() == (ROWS,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM flood").fetchone() == (ROWS + len(seen),)


def test_a_copy_that_fails_midway_leaves_nothing_behind(database: Path, tmp_path: Path) -> None:
    out = tmp_path / "backups"
    out.mkdir()

    def interrupted(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup.backup(database, out / "copy.db", interrupted, pages=8)
    assert list(out.iterdir()) == []

    restored = tmp_path / "restored" / "commex.db"
    whole = backup.backup(database, out / "copy.db")
    with pytest.raises(KeyboardInterrupt):
        backup.restore(whole.path, restored, interrupted, pages=8)
    assert list(restored.parent.iterdir()) == []  # empty again: the restore can be retried
    done = backup.restore(whole.path, restored)
    assert (done.revision, done.pages) == (head(), whole.pages)
