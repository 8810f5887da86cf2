"""``MigrationManager``: the seed API, kept name for name, on top of the migrator.

It holds the loaded migrations (files in a directory, plus those created
through :meth:`MigrationManager.create_migration`) and one database. Every
method that writes takes the migration lock; errors that can be seen before
running (unknown ids, unmet dependencies, drift, repair needed) raise
:class:`~dbkeeper.migrations.errors.MigrationError`, while a migration whose
SQL fails returns a :class:`MigrationResult` with ``success=False``.

The seed names keep the documented shapes: :meth:`MigrationManager.list_migrations`
returns dicts and :meth:`MigrationManager.get_migration_status` a dict (or
``None``); the :class:`Migration` objects come from
:meth:`MigrationManager.get_migrations` and the bare status word from
:meth:`MigrationManager.get_migration_state`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import ConfigurationError
from dbkeeper.migrations.files import load_directory, next_id, write_json
from dbkeeper.migrations.history import DEFAULT_TABLE
from dbkeeper.migrations.locking import DEFAULT_LOCK_TIMEOUT
from dbkeeper.migrations.migrator import Listener, Migrator, RunReport
from dbkeeper.migrations.model import Migration, MigrationResult
from dbkeeper.migrations.planner import MigrationGraph, build_graph
from dbkeeper.migrations.status import StatusReport, migration_status

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL


class MigrationManager:
    """Load, create, apply and roll back migrations for one database.

    ``workspace_dir`` is dbkeeper's workspace (see
    :func:`dbkeeper.workspace.resolve_workspace`); new migrations go to
    ``<workspace>/migrations`` until :meth:`load_migrations_from_directory`
    points the manager at a directory. ``database_url`` is a URL, a
    connection name from ``dbkeeper.toml``, or a
    :class:`~dbkeeper.engine.connection.DatabaseConnection`.
    """

    def __init__(self, workspace_dir: str | os.PathLike[str] | None = None,
                 database_url: str | DatabaseURL | DatabaseConnection | None = None, *,
                 table: str = DEFAULT_TABLE, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 listener: Listener | None = None) -> None:
        self._workspace_arg = workspace_dir
        self.database_url = database_url
        self.table = table
        self.lock_timeout = lock_timeout
        self.listener = listener
        self.migrations_dir: Path | None = None
        self.migrations: dict[str, Migration] = {}
        self._graph: MigrationGraph | None = None
        self._connection: DatabaseConnection | None = None
        self._owns_connection = False

    # -- configuration --------------------------------------------------------------------------
    @property
    def workspace_dir(self) -> Path:
        """The workspace directory (created on first use)."""
        from dbkeeper.workspace import resolve_workspace

        return resolve_workspace(self._workspace_arg)

    def set_database_url(self, database_url: str | DatabaseURL | DatabaseConnection) -> None:
        """Point the manager at another database (closing the current connection)."""
        self.close()
        self.database_url = database_url

    def load_migrations_from_directory(self, directory: str | os.PathLike[str] | None = None) -> list[Migration]:
        """Load and validate every migration in ``directory``; it becomes the manager's directory.

        Seed API: without ``directory``, the manager's own directory (the
        last one loaded, else ``<workspace>/migrations``; a missing one
        loads nothing).
        """
        if directory is None:
            directory = self.migrations_dir or self.workspace_dir / "migrations"
            if not Path(directory).is_dir():
                self.migrations_dir = Path(directory)
                self.migrations, self._graph = {}, None
                return []
        migrations = load_directory(directory)
        graph = build_graph(migrations)
        self.migrations_dir = Path(directory)
        self.migrations = {m.id: m for m in graph}
        self._graph = graph
        return list(graph)

    def create_migration(self, name: str, description: str, sql: str, rollback_sql: str | None = None,
                         dependencies: list[str] | None = None) -> Migration:
        """Create a migration, validate it against the others, and write it as a JSON file."""
        directory = self.migrations_dir or self.workspace_dir / "migrations"
        existing = list(self.migrations)
        if directory.is_dir():
            existing += [p.name for p in directory.iterdir()]
        migration = Migration(id=next_id(existing), name=name, description=description, sql=sql,
                              rollback_sql=rollback_sql, dependencies=list(dependencies or []))
        graph = build_graph([*self.migrations.values(), migration])
        write_json(migration, directory)
        self.migrations_dir = directory
        self.migrations[migration.id] = migration
        self._graph = graph
        return migration

    # -- plumbing -------------------------------------------------------------------------------------
    @property
    def graph(self) -> MigrationGraph:
        """The validated graph of the loaded migrations."""
        if self._graph is None:
            self._graph = build_graph(self.migrations.values())
        return self._graph

    def connection(self) -> DatabaseConnection:
        """The connected database (opened on first use)."""
        if self._connection is None:
            from dbkeeper.migrations.connect import open_connection

            target = self.database_url or os.environ.get("DBKEEPER_URL")
            if target is None:
                raise ConfigurationError("MigrationManager has no database: pass database_url=... or call "
                                         "set_database_url(url)")
            self._connection, self._owns_connection = open_connection(target)
        return self._connection

    def migrator(self) -> Migrator:
        """A :class:`Migrator` for the loaded migrations and the database."""
        return Migrator(self.connection(), self.graph, table=self.table, lock_timeout=self.lock_timeout,
                        listener=self.listener)

    def close(self) -> None:
        """Close the database connection the manager opened (it reopens on next use)."""
        connection, self._connection = self._connection, None
        if connection is not None and self._owns_connection:
            connection.disconnect()

    def __enter__(self) -> MigrationManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the seed API -----------------------------------------------------------------------------------
    def apply_migration(self, migration_id: str, dry_run: bool = False) -> MigrationResult:
        """Apply one migration (its dependencies must be applied); a dry run returns its statements."""
        return self.migrator().apply(str(migration_id), dry_run=dry_run)

    def rollback_migration(self, migration_id: str) -> MigrationResult:
        """Roll back one applied migration nothing applied depends on."""
        return self.migrator().rollback(str(migration_id))

    def get_migration_status(self, migration_id: str) -> dict[str, Any] | None:
        """Seed API: one migration as a dict (its fields, status and ``applied_at`` from the database).

        ``None`` when no loaded migration has that id. The keys are those of
        :meth:`list_migrations`.
        """
        ident = str(migration_id)
        if ident not in self.migrations:
            return None
        return next((m for m in self.list_migrations() if m["id"] == ident), None)

    def get_migration_state(self, migration_id: str) -> str:
        """``pending``, ``applied``, ``failed`` or ``rolled_back`` for one known migration (unknown: an error)."""
        ident = str(migration_id)
        self.graph.get(ident)
        rows = self.migrator().read_history()
        return migration_status(rows.get(ident))

    def list_migrations(self) -> list[dict[str, Any]]:
        """Seed API: every loaded migration in execution order, as dicts.

        Keys: ``id``, ``name``, ``description``, ``sql``, ``rollback_sql``,
        ``dependencies``, ``created_at`` and ``applied_at`` (ISO 8601 or
        ``None``), ``status`` (from the database when one is set) and
        ``checksum``. :meth:`get_migrations` returns the objects.
        """
        return [migration.to_dict() for migration in self.get_migrations()]

    def get_migrations(self) -> list[Migration]:
        """Every loaded migration in execution order, with status and applied_at from the database."""
        rows = self.migrator().read_history() if self.database_url or self._connection else {}
        result: list[Migration] = []
        for migration in self.graph:
            row = rows.get(migration.id)
            migration.status = migration_status(row)
            migration.applied_at = row.applied_datetime if row is not None and row.status == "applied" else None
            result.append(migration)
        return result

    def get_pending_migrations(self) -> list[Migration]:
        """Loaded migrations not applied yet, in the order ``apply_pending_migrations`` runs them."""
        return [m for m in self.get_migrations() if m.status != "applied"]

    def apply_pending_migrations(self) -> list[MigrationResult]:
        """Apply every pending migration in order under one lock; stops at the first failure."""
        return self.migrator().up().results

    # -- beyond the seed API ----------------------------------------------------------------------------
    def upgrade(self, target: str | None = None, *, dry_run: bool = False) -> RunReport:
        """``migrate up``: apply pending migrations up to ``target``."""
        return self.migrator().up(target=target, dry_run=dry_run)

    def downgrade(self, target: str | None = None, *, dry_run: bool = False) -> RunReport:
        """``migrate down``: roll back the latest migration, or all applied after ``target``."""
        return self.migrator().down(target=target, dry_run=dry_run)

    def status(self) -> StatusReport:
        """``migrate status``: applied, pending, failed, interrupted, drifted, missing."""
        return self.migrator().status()

    def baseline(self, target: str | None = None) -> list[str]:
        """Mark migrations applied without running them (adopting an existing database)."""
        return self.migrator().baseline(target=target)

    def repair(self, migration_id: str, action: str, *, from_statement: int | None = None) -> str:
        """Resolve a failed, interrupted or drifted migration (see :meth:`Migrator.repair`)."""
        return self.migrator().repair(str(migration_id), action, from_statement=from_statement)

    def accept_checksum(self, migration_id: str) -> str:
        """Accept (and record) a changed file of an applied migration."""
        return self.repair(migration_id, "accept-checksum")

    def __repr__(self) -> str:
        return f"MigrationManager(migrations={len(self.migrations)}, directory={self.migrations_dir})"

