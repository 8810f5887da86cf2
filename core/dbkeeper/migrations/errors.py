"""Errors of the migration engine, all :class:`~dbkeeper.errors.DbKeeperError` subclasses.

Each one is raised *before* anything is written whenever the problem can be
seen up front (bad files, graph problems, drift, a migration that needs
repair), so catching :class:`MigrationError` around a run is enough to know
that the database was left exactly as it was.
"""

from __future__ import annotations

from dbkeeper.errors import ConfigurationError, DbKeeperError


class MigrationError(DbKeeperError):
    """Base class of every migration-specific error."""


class InvalidDirectionError(MigrationError, ConfigurationError):
    """``run_migrations`` was asked for a direction other than ``up`` or ``down``."""


class InvalidLockTimeoutError(MigrationError, ConfigurationError):
    """A lock timeout that is negative or not a number (``nan`` would mean "give up at once", silently)."""


class MigrationFileError(MigrationError):
    """A migration file (or the directory) is missing, unreadable or malformed."""


class DuplicateMigrationError(MigrationFileError):
    """Two files define the same migration id."""


class MissingDependencyError(MigrationFileError):
    """A migration depends on an id that no file defines."""


class DependencyCycleError(MigrationFileError):
    """Dependencies form a cycle, so no order can satisfy them."""


class MigrationNotFoundError(MigrationError):
    """An id given on the command line or to the API matches no migration."""


class MissingMigrationFileError(MigrationError):
    """The history records applied migrations whose files are gone."""


class ChecksumMismatchError(MigrationError):
    """An applied migration's file changed since it was applied (drift)."""


class RepairRequiredError(MigrationError):
    """A migration failed or was interrupted half-way; ``migrate repair`` must resolve it first."""


class MissingRollbackError(MigrationError):
    """A migration that must be rolled back has no rollback SQL."""


class DependentMigrationError(MigrationError):
    """A migration cannot be rolled back (or applied) because of the state of its dependents (or dependencies)."""


class MigrationLockError(MigrationError):
    """The migration lock could not be taken within the timeout; the message names the holder."""


class MigrationFailedError(MigrationError):
    """A migration's SQL failed; the history records where (used by the CLI for its exit code)."""
