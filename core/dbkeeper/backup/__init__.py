"""Backups: streamed, chunked, compressed, optionally encrypted, self-checking archives.

Public API (re-exported by :mod:`dbkeeper`): :class:`BackupManager`,
:class:`Backup`, :class:`BackupResult`, :func:`backup_database`,
:func:`restore_database`, :class:`EncryptionSettings`. The archive format is
documented in ``docs/backup-format.md``.

Names are re-exported lazily (PEP 562): ``dbkeeper backup --help`` imports
this package and must not pay for the pipeline, codecs and cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbkeeper._exports import lazy_getattr

_EXPORTS: dict[str, str] = {
    "backup_database": "dbkeeper.backup.api",
    "restore_database": "dbkeeper.backup.api",
    "verify_database": "dbkeeper.backup.api",
    "EncryptionSettings": "dbkeeper.backup.crypto",
    "BackupError": "dbkeeper.backup.errors",
    "BackupNotFoundError": "dbkeeper.backup.errors",
    "ChainError": "dbkeeper.backup.errors",
    "DependentBackupsError": "dbkeeper.backup.errors",
    "CorruptBackupError": "dbkeeper.backup.errors",
    "EncryptionError": "dbkeeper.backup.errors",
    "RestoreTargetError": "dbkeeper.backup.errors",
    "ToolError": "dbkeeper.backup.errors",
    "BackupManager": "dbkeeper.backup.manager",
    "Backup": "dbkeeper.backup.models",
    "BackupResult": "dbkeeper.backup.models",
}

__all__ = [
    "Backup", "BackupError", "BackupManager", "BackupNotFoundError", "BackupResult", "ChainError",
    "CorruptBackupError", "DependentBackupsError", "EncryptionError", "EncryptionSettings", "RestoreTargetError",
    "ToolError", "backup_database", "restore_database", "verify_database",
]

if TYPE_CHECKING:
    from dbkeeper.backup.api import backup_database, restore_database, verify_database
    from dbkeeper.backup.crypto import EncryptionSettings
    from dbkeeper.backup.errors import (
        BackupError,
        BackupNotFoundError,
        ChainError,
        CorruptBackupError,
        DependentBackupsError,
        EncryptionError,
        RestoreTargetError,
        ToolError,
    )
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.backup.models import Backup, BackupResult


__getattr__ = lazy_getattr(globals(), _EXPORTS)
