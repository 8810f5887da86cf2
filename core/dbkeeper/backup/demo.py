"""The backup step of ``dbkeeper demo``: back up, verify, restore into a new file.

Kept here so the demo shows exactly what the API does; the lead's demo calls
:func:`run_backup_demo` with the demo's own directory and database.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from dbkeeper.urls import DatabaseURL


def run_backup_demo(directory: pathlib.Path, database_url: str, say: Callable[[str], None]) -> None:
    """Back up ``database_url`` into ``directory/workspace``, verify it deeply, restore it into a new file."""
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.connection import DatabaseConnection

    url = DatabaseURL.parse(database_url)
    manager = BackupManager(workspace_dir=directory / "workspace", database_url=url)
    name = url.database and pathlib.Path(url.database).stem if url.scheme == "sqlite" else url.database
    result = manager.create_backup(name or "demo", compression="zstd")
    if not result.success:
        say(f"backup failed: {result.error_message}")
        return
    say(f"backup {result.backup_id}: {result.file_size_mb} MB, zstd, {result.duration:.2f} s, {result.checksum}")
    for level in ("quick", "full", "deep"):
        verdict = manager.verify_backup(result.backup_id, level)
        say(f"verify {level}: {'ok' if verdict.success else 'FAILED: ' + str(verdict.error_message)}")
    if url.scheme == "sqlite":
        target = DatabaseURL(scheme="sqlite", database=str(directory / "restored.db"))
        if pathlib.Path(target.database or "").exists():
            pathlib.Path(target.database or "").unlink()
        manager.restore_backup(result.backup_id, target)
        with DatabaseConnection.from_url(target) as conn:
            tables = conn.dialect.table_names(conn)
        say(f"restored into {target.database}: tables {', '.join(tables) or '(none)'}")
    listed = manager.list_backups()
    say(f"catalog: {len(listed)} backup(s) in {manager.catalog.path}")
