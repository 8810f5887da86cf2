"""The backup catalog: a SQLite database in the workspace listing finished backups.

A row is inserted only after the archive has been fsynced and renamed to
its final name, in one transaction, so a crash mid-backup leaves no row.
The file is created 0600; it holds no secret (no password, no full URL).

Chains: ``parent_id`` names the backup an incremental or differential was
taken against, and ``backup_refs`` lists every backup whose archive holds
chunks this one references (its real restore dependencies). Both are written
in the same transaction as the row. ``pinned`` backups are never pruned.
Catalogs from before chains get the column and the table on first open.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from dbkeeper.backup.errors import BackupNotFoundError
from dbkeeper.backup.models import Backup

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    backup_id     TEXT PRIMARY KEY,
    database_name TEXT NOT NULL,
    database_type TEXT NOT NULL,
    backup_type   TEXT NOT NULL,
    parent_id     TEXT,
    file_path     TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    plain_bytes   INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    compression   TEXT NOT NULL,
    encryption    INTEGER NOT NULL,
    checksum      TEXT NOT NULL,
    status        TEXT NOT NULL,
    metadata      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS backups_by_database ON backups (database_name, created_at);
CREATE TABLE IF NOT EXISTS backup_refs (
    backup_id  TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    PRIMARY KEY (backup_id, depends_on)
);
CREATE INDEX IF NOT EXISTS backup_refs_by_target ON backup_refs (depends_on);
"""


class Catalog:
    """Open the catalog at ``path`` (created 0600 on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(backups)")}
            if "pinned" not in columns:
                conn.execute("ALTER TABLE backups ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
            yield conn
        finally:
            conn.close()

    def add(self, backup: Backup, *, parent_id: str | None, size_bytes: int, plain_bytes: int,
            status: str = "complete", depends_on: Iterable[str] = ()) -> None:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO backups (backup_id, database_name, database_type, backup_type, parent_id, file_path, "
                "size_bytes, plain_bytes, created_at, compression, encryption, checksum, status, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (backup.backup_id, backup.database_name, backup.database_type, backup.backup_type, parent_id,
                 backup.file_path, size_bytes, plain_bytes, backup.created_at.isoformat(), backup.compression,
                 int(backup.encryption), backup.checksum, status, json.dumps(backup.metadata, sort_keys=True)),
            )
            deps = set(depends_on) | ({parent_id} if parent_id else set())
            deps.discard(backup.backup_id)
            conn.executemany("INSERT INTO backup_refs VALUES (?, ?)", [(backup.backup_id, d) for d in sorted(deps)])
            conn.execute("COMMIT")

    def list(self, database_name: str | None = None) -> list[Backup]:
        sql = "SELECT * FROM backups"
        params: tuple[Any, ...] = ()
        if database_name is not None:
            sql += " WHERE database_name = ?"
            params = (database_name,)
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(sql + " ORDER BY created_at, backup_id", params).fetchall()
        return [_to_backup(row) for row in rows]

    def get(self, backup_id: str) -> Backup:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM backups WHERE backup_id = ?", (backup_id,)).fetchone()
        if row is None:
            raise BackupNotFoundError(f"no backup {backup_id!r} in the catalog {self.path}; "
                                      "see `dbkeeper backup list`")
        return _to_backup(row)

    def remove(self, backup_id: str) -> None:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM backups WHERE backup_id = ?", (backup_id,))
            conn.execute("DELETE FROM backup_refs WHERE backup_id = ?", (backup_id,))
            conn.execute("COMMIT")

    def depends_on(self, backup_id: str) -> set[str]:
        """The backups ``backup_id`` needs to be restored (its parent and chunk sources)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT depends_on FROM backup_refs WHERE backup_id = ?", (backup_id,)).fetchall()
        return {r[0] for r in rows}

    def dependents(self, backup_id: str) -> set[str]:
        """Every backup that needs ``backup_id``, directly or through others."""
        found: set[str] = set()
        stack = [backup_id]
        with self._connect() as conn:
            while stack:
                current = stack.pop()
                for (child,) in conn.execute("SELECT backup_id FROM backup_refs WHERE depends_on = ?", (current,)):
                    if child not in found:
                        found.add(child)
                        stack.append(child)
        return found

    def all_dependencies(self) -> dict[str, set[str]]:
        """``backup_id -> backups it depends on`` for the whole catalog (for retention)."""
        deps: dict[str, set[str]] = {}
        with self._connect() as conn:
            for backup_id, target in conn.execute("SELECT backup_id, depends_on FROM backup_refs"):
                deps.setdefault(backup_id, set()).add(target)
        return deps

    def set_pinned(self, backup_id: str, pinned: bool) -> None:
        """Pin (never pruned) or unpin a backup; unknown ids raise :class:`BackupNotFoundError`."""
        self.get(backup_id)
        with self._connect() as conn:
            conn.execute("UPDATE backups SET pinned = ? WHERE backup_id = ?", (int(pinned), backup_id))

    def set_checksum(self, backup_id: str, checksum: str, size_bytes: int) -> None:
        """Record a rewritten archive's checksum and size (after a key rotation)."""
        with self._connect() as conn:
            conn.execute("UPDATE backups SET checksum = ?, size_bytes = ? WHERE backup_id = ?",
                         (checksum, size_bytes, backup_id))

    def set_status(self, backup_id: str, status: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE backups SET status = ? WHERE backup_id = ?", (status, backup_id))


def _to_backup(row: sqlite3.Row) -> Backup:
    metadata = json.loads(row["metadata"])
    metadata.update({"parent_id": row["parent_id"], "status": row["status"], "size_bytes": row["size_bytes"],
                     "plain_bytes": row["plain_bytes"], "pinned": bool(row["pinned"])})
    return Backup(
        backup_id=row["backup_id"], database_name=row["database_name"], database_type=row["database_type"],
        backup_type=row["backup_type"], file_path=row["file_path"],
        size_mb=round(row["size_bytes"] / (1 << 20), 3), created_at=datetime.fromisoformat(row["created_at"]),
        compression=row["compression"], encryption=bool(row["encryption"]), checksum=row["checksum"],
        metadata=metadata,
    )
