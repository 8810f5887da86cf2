"""The seed API's one-call functions, built on :class:`BackupManager`."""

from __future__ import annotations

import os
from typing import Any

from dbkeeper.backup.manager import BackupManager
from dbkeeper.backup.models import BackupResult
from dbkeeper.urls import DatabaseURL


def backup_database(database_name: str, database_url: str | DatabaseURL | None = None, backup_type: str = "full",
                    compression: str = "gzip", *, workspace_dir: str | os.PathLike[str] | None = None,
                    **options: Any) -> BackupResult:
    """Back up one database into the workspace catalog (see :meth:`BackupManager.create_backup`)."""
    manager = BackupManager(workspace_dir=workspace_dir, database_url=database_url)
    return manager.create_backup(database_name, database_url, backup_type=backup_type, compression=compression,
                                 **options)


def restore_database(backup_id: str, target_url: str | DatabaseURL | None = None, *,
                     workspace_dir: str | os.PathLike[str] | None = None, replace: bool = False,
                     **options: Any) -> BackupResult:
    """Restore ``backup_id`` into its original database or ``target_url`` (see :meth:`BackupManager.restore_backup`)."""
    manager = BackupManager(workspace_dir=workspace_dir)
    return manager.restore_backup(backup_id, target_url, replace=replace, **options)


def verify_database(backup_id: str, level: str = "full", *, workspace_dir: str | os.PathLike[str] | None = None,
                    **options: Any) -> BackupResult:
    """Verify ``backup_id`` at ``level`` (see :meth:`BackupManager.verify_backup`)."""
    return BackupManager(workspace_dir=workspace_dir).verify_backup(backup_id, level, **options)
