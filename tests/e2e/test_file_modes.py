"""The embedded database is readable by its owner alone: `commex serve` makes the data dir 700
and commex.db, -wal and -shm 600, tightening what an earlier start left looser and saying so
once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import httpx
from serve_support import EXE, answers, commex_server, free_port, wait_until

from commex.adapters.sql.files import secure_sqlite_files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_modes(data_dir: Path) -> dict[str, int]:
    """The mode of the data dir and of each database file in it (-wal and -shm while open)."""
    found = {"dir": mode(data_dir)}
    for name in ("commex.db", "commex.db-wal", "commex.db-shm"):
        if (data_dir / name).exists():
            found[name] = mode(data_dir / name)
    return found


def test_a_new_data_dir_and_its_database_are_the_owners_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    os.umask(old := os.umask(0o022))  # the common umask, whatever the test runner's
    try:
        with commex_server(data_dir) as url:
            r = httpx.post(f"{url}/v1/accounts", json={"name": "Harbour", "roles": ["recipient"]})
            assert r.status_code == 201, r.text
            modes = database_modes(data_dir)
    finally:
        os.umask(old)
    assert modes == {
        "dir": 0o700,
        "commex.db": 0o600,
        "commex.db-wal": 0o600,
        "commex.db-shm": 0o600,
    }


def test_looser_modes_left_behind_are_tightened_and_said_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [EXE, "db", "upgrade"],
        env=dict(os.environ, COMMEX_DATA_DIR=str(data_dir)),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    data_dir.chmod(0o755)  # as an earlier commex (or a copy by hand) left them
    (data_dir / "commex.db").chmod(0o644)
    (data_dir / "commex.db-wal").write_bytes(b"")
    (data_dir / "commex.db-wal").chmod(0o664)
    port = free_port()
    env = dict(os.environ, COMMEX_DATA_DIR=str(data_dir))
    env.pop("COMMEX_DATABASE_URL", None)
    server = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: server.poll() is not None or answers(f"{url}/v1/health"), "serve", 60)
        assert server.poll() is None, "commex serve exited"
        assert database_modes(data_dir) == {
            "dir": 0o700, "commex.db": 0o600, "commex.db-wal": 0o600, "commex.db-shm": 0o600,
        }  # fmt: skip
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    said = [json.loads(line)["message"] for line in stderr.splitlines() if "tightened" in line]
    assert said == [
        f"tightened the data dir {data_dir} from mode 755 to 700",
        "tightened commex.db from mode 644 to 600",
        "tightened commex.db-wal from mode 664 to 600",
    ]
    assert done.returncode == 0


def test_a_shared_directory_is_left_as_it_is_and_said(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: not commex's to close
    notes = secure_sqlite_files(shared / "commex.db")
    assert mode(shared) == 0o1777
    assert mode(shared / "commex.db") == 0o600
    assert notes == [f"the data dir {shared} is open to others (mode 1777); its files are 600"]
    assert secure_sqlite_files(shared / "commex.db")[1:] == []  # the files need nothing more
