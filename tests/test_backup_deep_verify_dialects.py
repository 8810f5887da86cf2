"""Deep verify asks the dialect for its scratch target and its integrity check; it names no database itself.

Before, ``verify.py`` special-cased ``sqlite`` by name: any other embedded
dialect had ``CREATE DATABASE`` sent to its file, and only SQLite's
``PRAGMA integrity_check`` was ever run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import dbkeeper
from dbkeeper.backup import BackupManager
from dbkeeper.backup.errors import CorruptBackupError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.engine.plugins import PluginRegistry
from dbkeeper.urls import DatabaseURL
from dbkeeper_sqlite.dialect import SQLiteDialect


class EmbeddedThird(SQLiteDialect):
    """A third party's embedded engine (SQLite underneath) under its own name and scheme."""

    name = "embedded-third"
    schemes = ("embeddedthird",)


class BrokenCopies(SQLiteDialect):
    """An embedded engine whose restored copies always fail its integrity check."""

    name = "broken-copies"
    schemes = ("brokencopies",)

    def integrity_check(self, connection: Any) -> list[str]:
        assert Path(connection.url.database).name == "scratch.db"  # only the scratch copy is checked
        return ["page 7: checksum mismatch"]


class Plugin:
    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(self, register: Any) -> None:
        register(EmbeddedThird)
        register(BrokenCopies)


@pytest.fixture
def registry(use_registry: Any, installed_entry_points: Any) -> PluginRegistry:
    installed: PluginRegistry = use_registry(PluginRegistry(entry_points=installed_entry_points,
                                                            extra_plugins=[("embedded", Plugin())], disabled=()))
    return installed


def _fill(url: str) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute_many("INSERT INTO items (id, name) VALUES (?, ?)", [(i, f"n{i}") for i in range(50)])


def test_deep_verify_of_an_embedded_third_party_dialect_restores_into_a_temp_file(
        registry: PluginRegistry, tmp_path: Path) -> None:
    url = f"embeddedthird:///{tmp_path / 'third.db'}"
    _fill(url)
    manager = BackupManager(tmp_path / "ws", url)
    result = manager.create_backup("db", compression="zstd")
    verdict = manager.verify_backup(result.backup_id, "deep")
    assert verdict.success, verdict.error_message
    assert verdict.warnings == ["restored into a scratch database: items: 50 rows"]
    made = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("third.db"))
    assert made == ["ws"]  # the scratch copy lived in a temporary directory of its own


def test_deep_verify_fails_when_the_dialects_integrity_check_finds_problems(
        registry: PluginRegistry, tmp_path: Path) -> None:
    url = f"brokencopies:///{tmp_path / 'b.db'}"
    _fill(url)
    manager = BackupManager(tmp_path / "ws", url)
    result = manager.create_backup("db", compression="zstd")
    verdict = manager.verify_backup(result.backup_id, "deep")
    assert not verdict.success
    assert "failed its integrity check" in (verdict.error_message or "")
    assert "page 7: checksum mismatch" in (verdict.error_message or "")
    with pytest.raises(CorruptBackupError, match="page 7: checksum mismatch"):
        from dbkeeper.backup.verify import _check

        _check(DatabaseURL(scheme="brokencopies", database=str(tmp_path / "scratch.db")))


def test_sqlite_integrity_check_reports_an_index_that_disagrees_with_its_table(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.executescript("CREATE TABLE t (a INTEGER, b INTEGER); CREATE INDEX ix ON t (a);"
                      "INSERT INTO t VALUES (1, 10), (2, 20);")
    with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(path))) as conn:
        assert conn.dialect.integrity_check(conn) == []
    raw.execute("PRAGMA writable_schema = ON")
    raw.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX ix ON t (b)' WHERE name = 'ix'")
    raw.close()
    with DatabaseConnection.from_url(DatabaseURL(scheme="sqlite", database=str(path))) as conn:
        assert conn.dialect.integrity_check(conn) == ["PRAGMA integrity_check: row 1 missing from index ix",
                                                      "PRAGMA integrity_check: row 2 missing from index ix"]
