"""SIGKILL during a backup or a restore leaves nothing broken and nothing listed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from dbkeeper.backup import BackupManager
from dbkeeper.urls import DatabaseURL

SLOW_BACKUP = """
import sys, time
from dbkeeper.backup import BackupManager
manager = BackupManager(sys.argv[1], "sqlite:///" + sys.argv[2])
def slow(done):
    time.sleep(0.05)
manager.create_backup("app", compression="zstd", chunk_size=64 << 10, progress=slow)
"""

SLOW_RESTORE = """
import sys, time
from dbkeeper.backup import BackupManager
manager = BackupManager(sys.argv[1])
def slow(done):
    print("progress", flush=True)
    time.sleep(0.05)
manager.restore_backup(sys.argv[2], "sqlite:///" + sys.argv[3], replace=True, progress=slow)
"""


def make_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO t (data) VALUES (?)", [(os.urandom(512),) for _ in range(6000)])
    conn.commit()
    conn.close()


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_sigkill_during_backup_leaves_no_file_and_no_catalog_entry(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    make_database(db)
    workspace = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BACKUP, str(workspace), str(db)])
    try:
        _wait_for(lambda: any((workspace / "backups").glob("*/.*.partial")) if workspace.exists() else False)
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    manager = BackupManager(workspace, DatabaseURL(scheme="sqlite", database=str(db)))
    assert manager.get_backups() == []
    assert not list((workspace / "backups").glob("*/*.dbkb"))
    result = manager.create_backup("app")
    assert result.success
    assert not list((workspace / "backups").glob("*/.*.partial")), "stale partial files are cleaned up"
    assert [b.backup_id for b in manager.get_backups()] == [result.backup_id]


def test_sigkill_during_restore_leaves_the_target_intact(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    make_database(db)
    workspace = tmp_path / "ws"
    manager = BackupManager(workspace, DatabaseURL(scheme="sqlite", database=str(db)))
    result = manager.create_backup("app", compression="zstd", chunk_size=64 << 10)
    target = tmp_path / "target.db"
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE precious (x)")
    conn.execute("INSERT INTO precious VALUES (42)")
    conn.commit()
    conn.close()
    before = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RESTORE, str(workspace), result.backup_id, str(target)],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        for _ in range(3):
            proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert target.read_bytes() == before
    check = sqlite3.connect(target)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT x FROM precious").fetchall() == [(42,)]
    check.close()
    assert manager.verify_backup(result.backup_id, "full").success
