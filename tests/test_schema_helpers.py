"""Helpers shared by the schema tests: scratch databases per dialect, applying SQL, migrating through the engine."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.migrations.manager import MigrationManager
from dbkeeper.schema.introspect import introspect
from dbkeeper.schema.migration import SchemaDiff, compare
from dbkeeper.schema.model import SchemaDefinition
from dbkeeper.urls import DatabaseURL

DIALECTS = ("sqlite", "postgres", "mysql")
_counter = itertools.count()


def reset_database(conn: DatabaseConnection) -> None:
    """Drop every object of the connected database, so one scratch database serves many examples."""
    dialect = conn.dialect.name
    if dialect == "postgres":
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    elif dialect == "mysql":
        for row in conn.execute("SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE()").rows:
            if row["t"] == "VIEW":
                conn.execute(f"DROP VIEW {conn.dialect.quote_identifier(row['n'])}")
        conn.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for row in conn.execute("SELECT TABLE_NAME AS n FROM information_schema.TABLES "
                                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'").rows:
                conn.execute(f"DROP TABLE {conn.dialect.quote_identifier(row['n'])}")
        finally:
            conn.execute("SET FOREIGN_KEY_CHECKS = 1")


@contextmanager
def fresh(url: DatabaseURL, tmp_path: Path) -> Iterator[tuple[DatabaseConnection, DatabaseURL]]:
    """A connection to an empty database: a new SQLite file, or the scratch server database emptied."""
    if url.scheme == "sqlite":
        url = DatabaseURL(scheme="sqlite", database=str(tmp_path / f"db{next(_counter)}.db"))
    conn = DatabaseConnection.from_url(url, pool_size=1, max_overflow=1)
    conn.connect()
    try:
        reset_database(conn)
        yield conn, url
    finally:
        conn.disconnect()


def create(conn: DatabaseConnection, schema: SchemaDefinition) -> None:
    """Create ``schema`` in the (empty) database."""
    for statement in compare(SchemaDefinition(name="empty"), schema, conn.dialect).statements:
        conn.execute(statement)


def redo(conn: DatabaseConnection, target: SchemaDefinition) -> SchemaDiff:
    """The diff from the live database to ``target``."""
    return compare(introspect(conn), target, conn.dialect)


def migrate(url: DatabaseURL, workspace: Path, sql: str, rollback_sql: str | None) -> tuple[MigrationManager, str]:
    """Apply ``sql`` as a migration through the migration engine; return the manager and the migration id."""
    manager = MigrationManager(workspace_dir=workspace, database_url=url)
    migration = manager.create_migration("schema change", "generated", sql, rollback_sql)
    result = manager.apply_migration(migration.id)
    assert result.success, f"{result.error_message}\n--- SQL ---\n{sql}"
    return manager, migration.id
