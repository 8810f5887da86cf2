"""An embedded engine other than SQLite is first class: names, in-memory URLs and the migration lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL


def test_a_duckdb_file_is_named_by_its_stem_and_memory_is_memory(duckdb_url: DatabaseURL) -> None:
    assert DatabaseConnection.from_url(duckdb_url).name == "test"
    memory = DatabaseURL.parse("duckdb:///:memory:")
    assert memory.is_memory
    assert DatabaseConnection.from_url(memory).name == "memory"


def test_the_migration_lock_is_a_file_beside_the_database(duckdb_url: DatabaseURL) -> None:
    from dbkeeper.migrations.errors import MigrationLockError

    first = DatabaseConnection.from_url(duckdb_url)
    second = DatabaseConnection.from_url(duckdb_url)
    with first, second, first.dialect.migration_lock(first, "dbkeeper:migrate", 5.0):
        assert (Path(duckdb_url.database or "").parent / "test.duckdb.migrate.lock").exists()
        with pytest.raises(MigrationLockError, match="held by"), \
                second.dialect.migration_lock(second, "dbkeeper:migrate", 0.2):
            pytest.fail("two holders at once")  # pragma: no cover
