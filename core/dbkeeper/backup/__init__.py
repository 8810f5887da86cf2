"""Backups: streamed, chunked, compressed, optionally encrypted, self-checking archives.

Public API (re-exported by :mod:`dbkeeper`): :class:`BackupManager`,
:class:`Backup`, :class:`BackupResult`, :func:`backup_database`,
:func:`restore_database`, :class:`EncryptionSettings`. The archive format is
documented in ``docs/backup-format.md``.
"""

from __future__ import annotations

from dbkeeper.backup.api import backup_database, restore_database, verify_database
from dbkeeper.backup.crypto import EncryptionSettings
from dbkeeper.backup.errors import (
    BackupError,
    BackupNotFoundError,
    CorruptBackupError,
    EncryptionError,
    RestoreTargetError,
    ToolError,
)
from dbkeeper.backup.manager import BackupManager
from dbkeeper.backup.models import Backup, BackupResult

__all__ = [
    "Backup", "BackupError", "BackupManager", "BackupNotFoundError", "BackupResult", "CorruptBackupError",
    "EncryptionError", "EncryptionSettings", "RestoreTargetError", "ToolError", "backup_database",
    "restore_database", "verify_database",
]
