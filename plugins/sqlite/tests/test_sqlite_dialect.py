"""SQLite specifics: memory databases, WAL, busy files, closed connections."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dbkeeper import DatabaseConnection, PoolTimeoutError
from dbkeeper.errors import ConfigurationError


def test_sqlite_memory_pool_is_one_connection_handed_out_in_turn() -> None:
    conn = DatabaseConnection.from_url("sqlite:///:memory:", pool_timeout=0.5).connect()
    try:
        release = threading.Event()
        entered = threading.Event()

        def hold() -> None:
            with conn.transaction():
                entered.set()
                release.wait(5)

        worker = threading.Thread(target=hold)
        worker.start()
        entered.wait(5)
        with pytest.raises(PoolTimeoutError):
            conn.execute("SELECT 1")
        release.set()
        worker.join()
        assert conn.pool_status()["size"] == 1
    finally:
        conn.disconnect()


def test_sqlite_memory_serialises_threads() -> None:
    conn = DatabaseConnection.from_url("sqlite:///:memory:").connect()
    try:
        conn.execute("CREATE TABLE t (v INTEGER)")
        threads = [threading.Thread(target=lambda: [conn.execute("INSERT INTO t VALUES (1)") for _ in range(50)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert conn.execute("SELECT COUNT(*) AS n FROM t").scalar() == 200
    finally:
        conn.disconnect()


def test_files_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    conn = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'w.db'}").connect()
    try:
        assert conn.execute("PRAGMA journal_mode").scalar() == "wal"
        assert conn.execute("PRAGMA foreign_keys").scalar() == 1
    finally:
        conn.disconnect()
    rollback = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'r.db'}?journal_mode=delete").connect()
    try:
        assert rollback.execute("PRAGMA journal_mode").scalar() == "delete"
    finally:
        rollback.disconnect()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'nope' / 'x.db'}").connect()


def test_a_connection_closed_underneath_is_replaced(tmp_path: Path) -> None:
    conn = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'c.db'}", pool_size=1, max_overflow=0).connect()
    try:
        entry = conn._pool.checkout()  # type: ignore[union-attr]
        raw: sqlite3.Connection = entry.raw
        entry.release()
        raw.close()
        assert conn.execute("SELECT 5 AS five").scalar() == 5
        assert conn.get_stats()["reconnects"] == 1
    finally:
        conn.disconnect()


def test_writers_wait_on_the_busy_timeout_for_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    conn = DatabaseConnection.from_url(f"sqlite:///{path}").connect()
    conn.execute("CREATE TABLE t (v INTEGER)")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        conn.execute("INSERT INTO t VALUES (2)")
        assert conn.execute("SELECT COUNT(*) AS n FROM t").scalar() == 2
    finally:
        timer.join()
        other.close()
        conn.disconnect()
