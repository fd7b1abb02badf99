"""What a server does with the schema at start: a database at the newest revision opens without
loading Alembic; one with a migration due is migrated; one from a newer commex is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy import text

from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import current, head, upgrade
from commex.adapters.sql.schema_revision import HEAD_REVISION
from commex.bootstrap import build_services
from commex.settings import Settings

_START = """
import sys
from commex.bootstrap import build_services
from commex.cli import serve
from commex.server import create_server
services = build_services()
create_server(services, scheduler=False)
services.shutdown()
print("alembic loaded:", any(m.split(".")[0] == "alembic" for m in sys.modules))
"""


def test_the_recorded_head_is_the_newest_migration() -> None:
    assert head() == HEAD_REVISION


def test_a_migrated_database_starts_without_loading_alembic(
    migrated_database_url: str, tmp_path: Path
) -> None:
    env = dict(os.environ, COMMEX_DATA_DIR=str(tmp_path), COMMEX_DATABASE_URL=migrated_database_url)
    done = subprocess.run(
        [sys.executable, "-c", _START],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "alembic loaded: False"


@pytest.mark.parametrize("at", [None, "0012_trust_and_safety"], ids=["empty", "one-behind"])
def test_a_database_with_a_migration_due_is_migrated_at_start(
    database_url: str, tmp_path: Path, at: str | None
) -> None:
    engine = make_engine(database_url)
    try:
        if at is not None:
            assert upgrade(engine, to=at) == at
        build_services(Settings(tmp_path, database_url)).shutdown()
        assert current(engine) == head()
    finally:
        engine.dispose()


def test_a_database_from_a_newer_commex_is_refused_at_start(
    migrated_database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(migrated_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        with pytest.raises(CommandError, match="0099_from_the_future"):
            build_services(Settings(tmp_path, migrated_database_url))
    finally:
        engine.dispose()
