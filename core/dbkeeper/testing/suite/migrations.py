"""Conformance: migrations apply and roll back once, and the migration lock admits one migrator at a time.

Switched by ``migrations``: a migration applied through
:class:`~dbkeeper.migrations.manager.MigrationManager` is recorded as
``applied``, its table exists, and its rollback removes both. Switched by
``migration_lock``: While one connection holds the lock, a second
connection's attempt times out with
:class:`~dbkeeper.migrations.errors.MigrationLockError` naming the holder;
once the holder leaves, the next attempt succeeds at once. The lock must be
one the database (or the OS) releases by itself when its holder dies, which
the dialect's own tests prove with a killed process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite._base import ConformanceBase
from dbkeeper.urls import DatabaseURL

LOCK_NAME = "dbkeeper:conformance"


class MigrationLockConformance(ConformanceBase):
    """What ``Capabilities.migrations`` and ``Capabilities.migration_lock`` promise to the migration engine."""

    def test_a_migration_applies_is_recorded_and_rolls_back(self, connection: DatabaseConnection,
                                                            database_url: DatabaseURL, tmp_path: Path) -> None:
        from dbkeeper.migrations.manager import MigrationManager

        self.requires(connection, "migrations")
        self.requires_persistent(database_url)
        manager = MigrationManager(workspace_dir=tmp_path / "ws", database_url=database_url)
        try:
            migration = manager.create_migration("conformance", "a table", "CREATE TABLE conformance_t (id INTEGER)",
                                                 "DROP TABLE conformance_t")
            applied = manager.apply_migration(migration.id)
            assert applied.success, applied.error_message
            assert manager.get_migration_state(migration.id) == "applied"
            assert "conformance_t" in connection.get_tables()
            rolled_back = manager.rollback_migration(migration.id)
            assert rolled_back.success, rolled_back.error_message
            assert manager.get_migration_state(migration.id) == "rolled_back"
            assert "conformance_t" not in connection.get_tables()
        finally:
            manager.close()

    def test_a_held_migration_lock_makes_a_second_migrator_time_out_naming_the_holder(
            self, connection: DatabaseConnection, database_url: DatabaseURL) -> None:
        from dbkeeper.migrations.errors import MigrationLockError

        self.requires(connection, "migration_lock")
        self.requires_persistent(database_url)
        dialect = connection.dialect
        with DatabaseConnection.from_url(database_url, name="conformance-rival", pool_size=1) as rival:
            with dialect.migration_lock(connection, LOCK_NAME, 5.0), \
                    pytest.raises(MigrationLockError, match="held by"), \
                    dialect.migration_lock(rival, LOCK_NAME, 0.3):
                pytest.fail("two migrators held the lock at once")  # pragma: no cover
            with dialect.migration_lock(rival, LOCK_NAME, 0.3):
                pass
