"""Async, versioned lifecycle for embedded databases (the successor of ``DBManager``).

Subclass :class:`VersionedDatabase` (also exported as ``DBManager``),
implement ``init_db`` and ``migrate_db``, decorate query methods with
``async_database_safe`` and start it with ``await Sub.create(...)``. See
``docs/lifecycle.md``.
"""

from __future__ import annotations

from dbkeeper.lifecycle.database import DBManager, VersionedDatabase
from dbkeeper.lifecycle.decorators import (
    DEFAULT_FAIL_VALUE,
    async_database_safe,
    async_during_init,
    async_required_argument,
    async_timed,
    fail_with_exception,
    with_fail_value,
)
from dbkeeper.lifecycle.errors import (
    DatabaseClosedError,
    DatabaseFailedError,
    LifecycleError,
    MissingArgumentError,
    OutsideOperationError,
    RestoreError,
    StartupError,
    UpgradeError,
    VersionFormatError,
    VersionTableError,
    VersionTooNewError,
)
from dbkeeper.lifecycle.status import DBStatus
from dbkeeper.lifecycle.version import Version

__all__ = [
    "DBManager",
    "DBStatus",
    "DEFAULT_FAIL_VALUE",
    "DatabaseClosedError",
    "DatabaseFailedError",
    "LifecycleError",
    "MissingArgumentError",
    "OutsideOperationError",
    "RestoreError",
    "StartupError",
    "UpgradeError",
    "Version",
    "VersionFormatError",
    "VersionTableError",
    "VersionTooNewError",
    "VersionedDatabase",
    "async_database_safe",
    "async_during_init",
    "async_required_argument",
    "async_timed",
    "fail_with_exception",
    "with_fail_value",
]
