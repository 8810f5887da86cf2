"""Errors raised by backups, restores and verification.

Each says what was wrong and what to do; none ever contains a passphrase,
a key or a full URL with its password.
"""

from __future__ import annotations

from dbkeeper.errors import ConfigurationError, DbKeeperError


class BackupError(DbKeeperError):
    """A backup, restore or verification could not be carried out."""


class BackupNotFoundError(BackupError):
    """No backup with the given id is in the catalog (or its file is gone)."""


class CorruptBackupError(BackupError):
    """An archive failed a check: flipped byte, truncation, reordering, appended data."""


class EncryptionError(BackupError):
    """Encryption is configured but unusable, or the key/passphrase is wrong."""


class KeyFilePermissionError(EncryptionError):
    """A key file is readable or writable by group or others; like ssh, dbkeeper refuses to use it."""


class ToolError(BackupError):
    """An external dump or restore tool is missing, too old, or failed."""


class RestoreTargetError(BackupError):
    """The restore target is not empty (and replacing it was not asked for) or unusable."""


class ChainError(BackupError):
    """An incremental or differential backup cannot be made or restored: its base is missing or unusable."""


class DependentBackupsError(BackupError):
    """Deleting a backup would break the chains of backups that depend on it (use ``cascade=True``)."""


class BackupSetError(BackupError, ConfigurationError):
    """A set name that several servers share was given without saying which server (``--db``)."""


class CatalogError(BackupError):
    """The catalog (a SQLite file in the workspace) could not be read or written: disk full, read-only, damaged."""
