"""`commex db`: the database schema."""

from __future__ import annotations

import typer

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.cli.common import console, handle_errors
from commex.settings import Settings

app = typer.Typer(help="The database: apply migrations, show the schema revision.")


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
