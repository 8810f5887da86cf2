"""Errors of the versioned lifecycle, all :class:`~dbkeeper.errors.DbKeeperError` subclasses.

Startup problems are :class:`StartupError` subclasses, so an application can
catch one type around ``create()``; state errors (using a closed or failed
database, or ``self.db`` outside an operation) say what state the database is
in and what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbkeeper.errors import ClosedError
from dbkeeper.lifecycle.error_base import LifecycleError, VersionFormatError

if TYPE_CHECKING:
    from dbkeeper.lifecycle.version import Version

__all__ = [
    "DatabaseClosedError", "DatabaseFailedError", "LifecycleError", "MissingArgumentError",
    "OutsideOperationError", "RestoreError", "StartupError", "UpgradeError", "VersionFormatError",
    "VersionTableError", "VersionTooNewError",
]


class StartupError(LifecycleError):
    """The database could not be started; its status is FAILED."""


class VersionTooNewError(StartupError, ValueError):
    """The database stores a schema version newer than the code knows how to use.

    Also a ``ValueError``: what the old ``DBManager``'s version check raised.
    """

    def __init__(self, message: str, *, stored: Version, expected: Version) -> None:
        super().__init__(message)
        self.stored = stored
        self.expected = expected


class VersionTableError(StartupError, ValueError):
    """The version table exists but does not hold exactly one valid row (a ``ValueError`` too, as before)."""


class UpgradeError(StartupError):
    """``init_db`` or ``migrate_db`` failed; the upgrade was undone.

    ``current`` is the stored version before the attempt (``None`` for a new
    database), ``target`` the version the code wanted, and ``restored`` tells
    whether the SQLite pre-upgrade snapshot had to be copied back because the
    rollback alone did not bring the file back to its earlier state.
    """

    def __init__(self, message: str, *, current: Version | None, target: Version,
                 restored: bool = False) -> None:
        super().__init__(message)
        self.current = current
        self.target = target
        self.restored = restored


class RestoreError(UpgradeError):
    """The upgrade failed and the pre-upgrade snapshot could not be restored.

    The message names the snapshot file, which is kept for a manual restore.
    """


class DatabaseClosedError(LifecycleError, ClosedError):
    """A decorated method was called after ``close()``."""


class DatabaseFailedError(LifecycleError):
    """A decorated method was called on a database whose startup failed."""


class OutsideOperationError(LifecycleError):
    """``self.db`` was used outside a method decorated with ``async_database_safe``."""


class MissingArgumentError(LifecycleError, KeyError):
    """None of the arguments named by ``async_required_argument`` was given.

    Also a ``KeyError``, which is what the old ``DBManager`` raised.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""
