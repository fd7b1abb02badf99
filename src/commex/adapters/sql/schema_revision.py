"""The schema revision this version of commex ends at, and the check a server makes at start.

A database already at the newest revision opens without loading Alembic and its migration
scripts, which every `commex serve` (and every command that opens the database) would
otherwise pay for at each start; only a database with a migration due loads them."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

# The newest script in migrations/versions; a test keeps the two the same.
HEAD_REVISION = "0014_auction_version"


def migrate_if_due(engine: Engine) -> str | None:
    """Bring the schema to the newest revision unless it is there already; returns it. A
    database at a revision this version does not know is refused by the migration, as it
    would be without this check."""
    if schema_revisions(engine) == {HEAD_REVISION}:
        return HEAD_REVISION
    from commex.adapters.sql.migrate import upgrade  # noqa: PLC0415  (only when one is due)

    return upgrade(engine)


def schema_revisions(engine: Engine) -> set[str]:
    """The revisions recorded in the database (none before its first migration)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        rows = conn.execute(text("SELECT version_num FROM alembic_version"))
        return {str(row[0]) for row in rows}
