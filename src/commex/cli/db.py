"""`commex db`: the administrator's commands on the database itself (they open it directly,
so they need access to its file): the schema, backups and restores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

from commex.adapters.sql import backup as backups
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.cli.common import console, err_console, handle_errors
from commex.settings import Settings

app = typer.Typer(help="The database: migrations, schema revision, backup and restore.")


@app.command("upgrade")
@handle_errors
def upgrade_cmd() -> None:
    """Apply every pending migration (COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR)."""
    settings = Settings.from_env()
    engine = make_engine(settings.url())
    before = current(engine)
    after = upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"{url}: already at revision {after}")
    else:
        console.print(f"{url}: upgraded from {before or 'empty'} to revision {after}")


@app.command("status")
@handle_errors
def status_cmd() -> None:
    """Show the database's schema revision and the newest one."""
    engine = make_engine(Settings.from_env().url())
    console.print(f"database revision: {current(engine) or 'empty'}; newest: {head()}")


@app.command("backup")
@handle_errors
def backup_cmd(
    path: Path = typer.Argument(..., metavar="PATH", help="The new file to write the copy to."),
) -> None:
    """Copy the SQLite database to PATH (mode 600) while the server runs, with SQLite's online
    backup: a consistent snapshot. With PostgreSQL, use pg_dump."""
    database = backups.sqlite_file(Settings.from_env().url(), "backup")
    with _pages("backing up") as progress:
        copy = backups.backup(database, path, progress)
    console.print(
        f"backed up {database} to {copy.path}: {_size(copy.size_bytes)}, "
        f"schema revision {copy.revision or 'empty'}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("restore")
@handle_errors
def restore_cmd(
    path: Path = typer.Argument(..., metavar="PATH", help="A file made by commex db backup."),
) -> None:
    """Restore a backup into an empty data dir (COMMEX_DATA_DIR), then apply the migrations
    that bring it up to date. With PostgreSQL, use pg_restore."""
    settings = Settings.from_env()
    database = backups.sqlite_file(settings.url(), "restore")
    with _pages("restoring") as progress:
        copy = backups.restore(path, database, progress)
    after = upgrade(make_engine(settings.url()))
    migrated = f"upgraded to revision {after}" if after != copy.revision else "up to date"
    console.print(
        f"restored {path} into {database} ({_size(copy.size_bytes)}, "
        f"schema revision {copy.revision}; {migrated})",
        highlight=False,
        soft_wrap=True,
    )


@contextmanager
def _pages(what: str) -> Iterator[backups.Progress]:
    """A progress bar over the pages copied, on a terminal (a copy of many pages takes time)."""
    bar = Progress(
        f"[progress.description]{what}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = bar.add_task(what, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _size(n: int) -> str:
    return f"{n / 1_048_576:,.1f} MiB" if n >= 1_048_576 else f"{n / 1024:,.0f} KiB"
