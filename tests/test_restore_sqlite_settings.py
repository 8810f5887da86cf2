"""SQLite restores keep the database's persistent settings.

A WAL database used to come back in ``delete`` journal mode (the dump's
page image is marked as a rollback-journal file). Each persistent setting is
checked on a real file, through both ways a dump is taken: the direct page
read (empty log) and the online-backup copy (a log holding frames).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.urls import DatabaseURL

SETTINGS = {
    "journal_mode": ("PRAGMA journal_mode = WAL", "wal"),
    "page_size": ("PRAGMA page_size = 8192", 8192),
    "auto_vacuum": ("PRAGMA auto_vacuum = INCREMENTAL", 2),
    "user_version": ("PRAGMA user_version = 42", 42),
    "application_id": ("PRAGMA application_id = 1234567", 1234567),
}


def setting(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def make(path: Path, *pragmas: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in pragmas:  # page_size and auto_vacuum take effect on an empty file, before the first table
            conn.execute(pragma)
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(500)])
        conn.execute("COMMIT")
    finally:
        conn.close()


@contextmanager
def frames_in_log(path: Path) -> Iterator[None]:
    """Keep uncheckpointed frames in the WAL while the backup runs (the dump then copies)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("INSERT INTO t (v) VALUES ('in the log')")
    try:
        yield
    finally:
        conn.close()


@pytest.mark.parametrize("with_frames", [False, True], ids=["direct", "copy"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_restore_keeps_the_setting(tmp_path: Path, name: str, with_frames: bool) -> None:
    pragma, expected = SETTINGS[name]
    source = tmp_path / "source.db"
    make(source, pragma)
    assert setting(source, name) == expected
    manager = BackupManager(tmp_path / "ws", DatabaseURL(scheme="sqlite", database=str(source)))
    if with_frames:
        with frames_in_log(source):
            result = manager.create_backup("src", compression="zstd")
    else:
        result = manager.create_backup("src", compression="zstd")
    assert result.success, result.error_message
    target = tmp_path / "target.db"
    make(target, "PRAGMA user_version = 1")  # an existing database with other settings, replaced
    manager.restore_backup(result.backup_id, DatabaseURL(scheme="sqlite", database=str(target)), replace=True)
    assert setting(target, name) == expected
    assert setting(target, "integrity_check") == "ok"
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == (501 if with_frames else 500)
    finally:
        conn.close()
    if with_frames:
        assert setting(target, "journal_mode") == "wal"


def test_all_settings_together(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    order = ["page_size", "auto_vacuum", "journal_mode", "user_version", "application_id"]  # page size first
    make(source, *(SETTINGS[name][0] for name in order))
    expected = {name: value for name, (_, value) in SETTINGS.items()}
    assert {name: setting(source, name) for name in SETTINGS} == expected
    manager = BackupManager(tmp_path / "ws", DatabaseURL(scheme="sqlite", database=str(source)))
    result = manager.create_backup("src", compression="none")
    assert result.success, result.error_message
    target = tmp_path / "elsewhere.db"
    manager.restore_backup(result.backup_id, DatabaseURL(scheme="sqlite", database=str(target)))
    assert {name: setting(target, name) for name in SETTINGS} == expected
