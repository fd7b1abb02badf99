"""`commex db backup` and `commex db restore` as an administrator runs them: a backup taken with
SQLite's online backup while `commex serve` takes a flood of bids, restored into a new data
dir, keeps every bid the server acknowledged before the backup began."""

from __future__ import annotations

import itertools
import os
import sqlite3
import stat
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from serve_support import EXE, commex_server, wait_until

from commex.adapters.sql import migrate
from commex.adapters.sql.engine import make_engine

BIDDERS = 4


def commex_db(*args: str, data_dir: Path | None = None, url: str | None = None):
    env = dict(os.environ)
    env.pop("COMMEX_DATABASE_URL", None)
    env.pop("COLUMNS", None)
    if data_dir is not None:
        env["COMMEX_DATA_DIR"] = str(data_dir)
    if url is not None:
        env["COMMEX_DATABASE_URL"] = url
    return subprocess.run(
        [EXE, "db", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a command wrote to stderr, as one line (a terminal's width wraps long paths)."""
    return " ".join(done.stderr.split())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stored_bids(database: Path, auction_id: str) -> set[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id FROM bids WHERE auction_id = ?", (auction_id,))
        return {row[0] for row in rows}


class BidFlood:
    """Bidders posting bids as fast as the server answers, each acknowledgement (201) recorded
    with the moment it arrived; stopped by :meth:`stop` or after ``limit`` seconds."""

    def __init__(self, url: str, auction_id: str, tokens: list[str], limit: float = 90) -> None:
        self.acks: list[tuple[float, str, int]] = []  # when, the bid's id, the bidder
        self.other: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + limit
        self._threads = [
            threading.Thread(target=self._bid, args=(url, auction_id, token, n), daemon=True)
            for n, token in enumerate(tokens)
        ]
        for thread in self._threads:
            thread.start()

    def _bid(self, url: str, auction_id: str, token: str, n: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            for i in itertools.count():
                if self._stop.is_set() or time.monotonic() > self._deadline:
                    return
                amount = f"{10 + n}.{i % 100:02d}"
                r = client.post(f"/v1/auctions/{auction_id}/bids", json={"amount": amount})
                with self._lock:
                    if r.status_code == 201:
                        self.acks.append((time.monotonic(), r.json()["id"], n))
                    else:
                        self.other.append(r.status_code)

    def acked(self, bidder: int | None = None) -> set[str]:
        with self._lock:
            return {bid for _, bid, n in self.acks if bidder in (None, n)}

    def acked_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(start <= at <= end for at, _, _ in self.acks)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _open_auction(url: str) -> tuple[str, list[str]]:
    def account(name: str, role: str) -> str:
        r = httpx.post(f"{url}/v1/accounts", json={"name": name, "roles": [role]})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    seller = account("Northwind Carrier", "provider")
    bidders = [account(f"Bidder {n}", "recipient") for n in range(BIDDERS)]
    r = httpx.post(
        f"{url}/v1/auctions",
        headers={"Authorization": f"Bearer {seller}"},
        json={
            "direction": "forward",
            "format": "first-price",
            "title": "Voice minutes",
            "terms": {"service": "voice", "duration_s": 3600},
            "currency": "EUR",
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), bidders


@pytest.mark.slow
def test_a_backup_during_a_bid_flood_keeps_every_acknowledged_bid(tmp_path: Path) -> None:
    live, restored, copy = tmp_path / "live", tmp_path / "restored", tmp_path / "copy.db"
    with commex_server(live) as url:
        auction_id, bidders = _open_auction(url)
        flood = BidFlood(url, auction_id, bidders)
        try:
            wait_until(lambda: len(flood.acked()) >= 50, "the first 50 bids", 60)
            before = flood.acked()
            started = time.monotonic()
            done = commex_db("backup", str(copy), data_dir=live)
            ended = time.monotonic()
            assert done.returncode == 0, done.stderr
            during = flood.acked_between(started, ended)
            wait_until(lambda: len(flood.acked()) >= len(before) + during + 20, "more bids", 60)
        finally:
            flood.stop()
        acked = flood.acked()
        assert during > 0, "no bid was acknowledged while the backup ran"
        assert set(flood.other) <= {409}, flood.other  # nothing but bids
        assert mode(copy) == 0o600
        assert (mode(live), mode(live / "commex.db")) == (0o700, 0o600)

    assert "backed up" in done.stdout and "Traceback" not in done.stderr
    done = commex_db("restore", str(copy), data_dir=restored)
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    assert (mode(restored), mode(restored / "commex.db")) == (0o700, 0o600)
    kept = stored_bids(restored / "commex.db", auction_id)
    assert before <= kept, f"{len(before - kept)} acknowledged bids lost"
    assert kept <= acked  # a snapshot of what the server stored, nothing invented
    assert len(kept) < len(acked)  # the bids after the backup are not in it
    with commex_server(restored) as url:  # the restored exchange serves what was kept
        for n, token in enumerate(bidders):
            r = httpx.get(
                f"{url}/v1/auctions/{auction_id}", headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200, r.text
            auction = r.json()
            assert (auction["status"], auction["bid_count"]) == ("open", BIDDERS)
            assert {b["id"] for b in auction["bids"]} == kept & flood.acked(n)


def test_restore_refuses_a_data_dir_in_use_and_files_that_are_not_commex_backups(
    tmp_path: Path,
) -> None:
    live, copy = tmp_path / "live", tmp_path / "copy.db"
    assert commex_db("upgrade", data_dir=live).returncode == 0
    assert commex_db("backup", str(copy), data_dir=live).returncode == 0
    before = copy.read_bytes()

    again = commex_db("backup", str(copy), data_dir=live)
    assert again.returncode == 6
    assert said(again) == f"error (PATH): {copy} exists: back up to a new file"
    assert copy.read_bytes() == before

    in_use = commex_db("restore", str(copy), data_dir=live)
    assert in_use.returncode == 6
    assert f"the data dir {live} is not empty: restore into a new one" in said(in_use)

    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    for path, why in [
        (text, "is not a SQLite database"),
        (other, "is a SQLite database but not a commex one"),
        (tmp_path / "missing.db", "there is no backup file at"),
    ]:
        target = tmp_path / f"new-{path.stem}"
        refused = commex_db("restore", str(path), data_dir=target)
        assert refused.returncode in (2, 3), refused.stderr
        assert why in said(refused) and "Traceback" not in refused.stderr
        assert not target.exists() or not any(target.iterdir())  # nothing left behind


def test_a_restore_brings_an_older_backup_up_to_date(tmp_path: Path) -> None:
    old, restored, copy = tmp_path / "old", tmp_path / "restored", tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{old / 'commex.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")  # a database an earlier commex left
    engine.dispose()
    assert commex_db("backup", str(copy), data_dir=old).returncode == 0
    done = commex_db("restore", str(copy), data_dir=restored)
    assert done.returncode == 0, done.stderr
    newest = migrate.head()
    assert f"schema revision 0007; upgraded to revision {newest}" in " ".join(done.stdout.split())
    status = commex_db("status", data_dir=restored)
    assert f"database revision: {newest}; newest: {newest}" in status.stdout


@pytest.mark.postgres
def test_postgresql_is_backed_up_with_its_own_tools(postgres_url: str, tmp_path: Path) -> None:
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    for args, tool in [("backup", "pg_dump"), ("restore", "pg_restore")]:
        done = commex_db(args, str(tmp_path / "x.db"), url=postgres_url)
        assert done.returncode == 2
        assert said(done).startswith("error (COMMEX_DATABASE_URL): the database is PostgreSQL")
        assert tool in done.stderr and "Traceback" not in done.stderr
        assert password not in done.stderr + done.stdout
    assert not (tmp_path / "x.db").exists()
