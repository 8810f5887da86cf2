"""Conformance: the migration lock admits one migrator at a time.

Switched by ``migration_lock``. While one connection holds the lock, a second
connection's attempt times out with
:class:`~dbkeeper.migrations.errors.MigrationLockError` naming the holder;
once the holder leaves, the next attempt succeeds at once. The lock must be
one the database (or the OS) releases by itself when its holder dies, which
the dialect's own tests prove with a killed process.
"""

from __future__ import annotations

import pytest

from dbkeeper.connection import DatabaseConnection
from dbkeeper.testing.suite._base import ConformanceBase
from dbkeeper.urls import DatabaseURL

LOCK_NAME = "dbkeeper:conformance"


class MigrationLockConformance(ConformanceBase):
    """What ``Capabilities.migration_lock`` promises to the migration engine."""

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
