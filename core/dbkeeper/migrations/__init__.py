"""Schema migrations: files -> dependency graph -> lock -> one transaction each -> history.

Public names are re-exported lazily (PEP 562) so ``dbkeeper migrate`` starts
fast::

    from dbkeeper.migrations import MigrationManager, run_migrations

See ``docs/migrations.md`` for file formats, guarantees per database and the
command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbkeeper._exports import lazy_getattr

_EXPORTS: dict[str, str] = {
    "Migration": "dbkeeper.migrations.model",
    "MigrationResult": "dbkeeper.migrations.model",
    "compute_checksum": "dbkeeper.migrations.model",
    "MigrationManager": "dbkeeper.migrations.manager",
    "run_migrations": "dbkeeper.migrations.api",
    "Migrator": "dbkeeper.migrations.migrator",
    "Listener": "dbkeeper.migrations.migrator",
    "RunReport": "dbkeeper.migrations.migrator",
    "StatusReport": "dbkeeper.migrations.status",
    "MigrationGraph": "dbkeeper.migrations.planner",
    "build_graph": "dbkeeper.migrations.planner",
    "load_directory": "dbkeeper.migrations.files",
    "MigrationLock": "dbkeeper.migrations.locking",
    "LockHolder": "dbkeeper.migrations.locking",
    "FileLock": "dbkeeper.migrations.locking",
    "MigrationError": "dbkeeper.migrations.errors",
    "InvalidDirectionError": "dbkeeper.migrations.errors",
    "MigrationFileError": "dbkeeper.migrations.errors",
    "DuplicateMigrationError": "dbkeeper.migrations.errors",
    "MissingDependencyError": "dbkeeper.migrations.errors",
    "DependencyCycleError": "dbkeeper.migrations.errors",
    "MigrationNotFoundError": "dbkeeper.migrations.errors",
    "MissingMigrationFileError": "dbkeeper.migrations.errors",
    "ChecksumMismatchError": "dbkeeper.migrations.errors",
    "RepairRequiredError": "dbkeeper.migrations.errors",
    "MissingRollbackError": "dbkeeper.migrations.errors",
    "DependentMigrationError": "dbkeeper.migrations.errors",
    "MigrationLockError": "dbkeeper.migrations.errors",
    "MigrationFailedError": "dbkeeper.migrations.errors",
}

__all__ = [
    "ChecksumMismatchError",
    "DependencyCycleError",
    "DependentMigrationError",
    "DuplicateMigrationError",
    "FileLock",
    "InvalidDirectionError",
    "Listener",
    "LockHolder",
    "Migration",
    "MigrationError",
    "MigrationFailedError",
    "MigrationFileError",
    "MigrationGraph",
    "MigrationLock",
    "MigrationLockError",
    "MigrationManager",
    "MigrationNotFoundError",
    "MigrationResult",
    "Migrator",
    "MissingDependencyError",
    "MissingMigrationFileError",
    "MissingRollbackError",
    "RepairRequiredError",
    "RunReport",
    "StatusReport",
    "build_graph",
    "compute_checksum",
    "load_directory",
    "run_migrations",
]

if TYPE_CHECKING:
    from dbkeeper.migrations.api import run_migrations
    from dbkeeper.migrations.errors import (
        ChecksumMismatchError,
        DependencyCycleError,
        DependentMigrationError,
        DuplicateMigrationError,
        InvalidDirectionError,
        MigrationError,
        MigrationFailedError,
        MigrationFileError,
        MigrationLockError,
        MigrationNotFoundError,
        MissingDependencyError,
        MissingMigrationFileError,
        MissingRollbackError,
        RepairRequiredError,
    )
    from dbkeeper.migrations.files import load_directory
    from dbkeeper.migrations.locking import FileLock, LockHolder, MigrationLock
    from dbkeeper.migrations.manager import MigrationManager
    from dbkeeper.migrations.migrator import Listener, Migrator, RunReport
    from dbkeeper.migrations.model import Migration, MigrationResult, compute_checksum
    from dbkeeper.migrations.planner import MigrationGraph, build_graph
    from dbkeeper.migrations.status import StatusReport


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
