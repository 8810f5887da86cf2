"""SQLite restore leftovers: the scratch file a SIGKILLed restore leaves next to the target, and only it."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL

SLOW_RESTORE = """
import sys, time
from dbkeeper.backup import BackupManager
manager = BackupManager(sys.argv[1])
def slow(done):
    print("progress", flush=True)
    time.sleep(0.05)
manager.restore_backup(sys.argv[2], "sqlite:///" + sys.argv[3], replace=True, progress=slow)
"""


def _make(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO t (data) VALUES (?)", [(os.urandom(512),) for _ in range(rows)])
    conn.commit()
    conn.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbkeeper.cli", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_killed_restore_leaves_a_named_file_that_leftovers_removes(tmp_path: Path) -> None:
    source = tmp_path / "app.db"
    _make(source, 6000)
    workspace = tmp_path / "ws"
    backup = BackupManager(workspace, DatabaseURL(scheme="sqlite", database=str(source))).create_backup(
        "app", compression="zstd", chunk_size=64 << 10)
    assert backup.success, backup.error_message
    target = tmp_path / "target.db"
    _make(target, 3)
    lookalikes = [tmp_path / ".target.db.dbkeeper-restore-notahex!", tmp_path / ".other.db.dbkeeper-restore-0123abcd",
                  tmp_path / "target.db.dbkeeper-restore-0123abcd"]
    for path in lookalikes:
        path.write_bytes(b"user data")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RESTORE, str(workspace), backup.backup_id, str(target)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    for _ in range(3):
        proc.stdout.readline()
    running = list(tmp_path.glob(".target.db.dbkeeper-restore-*[0-9a-f]"))
    assert len(running) == 1
    with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(target)), name="t") as conn:
        assert conn.dialect.restore_leftovers(conn) == [], "a running restore's file is not a leftover"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(target)), name="t") as conn:
        assert conn.dialect.restore_leftovers(conn) == [str(running[0])]
        for other in [*lookalikes, target]:
            with pytest.raises(DbKeeperError, match="nothing was removed"):
                conn.dialect.remove_restore_leftover(conn, str(other))
    listing = _cli("backup", "list", "--workspace", str(workspace))
    assert str(running[0]) in listing.stderr and "leftovers --remove" in listing.stderr, listing.stderr
    removed = _cli("backup", "leftovers", "--remove", "--workspace", str(workspace))
    assert removed.returncode == 0, removed.stderr
    assert not running[0].exists()
    assert all(p.read_bytes() == b"user data" for p in lookalikes)
    assert sqlite3.connect(target).execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert "interrupted" not in _cli("backup", "list", "--workspace", str(workspace)).stderr
    assert _cli("backup", "leftovers", "--workspace", str(workspace)).stdout.strip() == "no restore leftovers"


def test_a_file_locked_by_a_running_restore_is_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    _make(target, 1)
    busy = tmp_path / ".t.db.dbkeeper-restore-00ff00ff"
    fd = os.open(busy, os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(target)), name="t") as conn:
            assert conn.dialect.restore_leftovers(conn) == []
            with pytest.raises(DbKeeperError, match="still running"):
                conn.dialect.remove_restore_leftover(conn, str(busy))
        assert busy.exists()
    finally:
        os.close(fd)
    with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(target)), name="t") as conn:
        assert conn.dialect.restore_leftovers(conn) == [str(busy)]
