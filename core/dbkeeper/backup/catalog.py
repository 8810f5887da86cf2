"""The backup catalog: a SQLite database in the workspace listing finished backups.

A row is inserted only after the archive has been fsynced and renamed to
its final name, in one transaction, so a crash mid-backup leaves no row.
The file is created 0600; it holds no secret (no password, no full URL).

Chains: ``parent_id`` names the backup an incremental or differential was
taken against, and ``backup_refs`` lists every backup whose archive holds
chunks this one references (its real restore dependencies). Both are written
in the same transaction as the row. ``pinned`` backups are never pruned.
Catalogs from before chains get the column and the table on first open.

Backup sets: a set is one database on one server - the dialect, the server
(``host:port``, or a SQLite file's absolute path) and the set name - so two
servers' databases that share a name never share a set (prune, chains and
``list`` never cross sets). Each row records its ``server``; a row written
before sets recorded only its dialect and name, and so joins the set of that
dialect and name when exactly one server has one (otherwise it stays a set
of its own, shown with the server ``?``).
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbkeeper.backup.errors import BackupNotFoundError, CatalogError
from dbkeeper.backup.models import Backup

if TYPE_CHECKING:
    from dbkeeper.urls import DatabaseURL

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


@dataclass(frozen=True, order=True)
class BackupSet:
    """One database on one server: what prune, chains and ``list`` keep apart.

    ``server`` is ``host:port`` (the dialect's default port when the URL
    names none) or, for SQLite, the file's absolute path; ``None`` for rows
    written before sets that could not be given a server.
    """

    dialect: str
    server: str | None
    name: str

    @property
    def key(self) -> str:
        """The set as one string, ``postgresql://127.0.0.1:5432/app`` (``?`` for an unknown server)."""
        return f"{self.dialect}://{self.server or '?'}/{self.name}"

    def describe(self) -> str:
        """For people: ``'app' on postgresql 127.0.0.1:5432``."""
        return f"{self.name!r} on {self.dialect} {self.server or '(server not recorded)'}"

    @classmethod
    def of(cls, url: DatabaseURL, dialect: str, name: str, default_port: int | None = None) -> BackupSet:
        """The set a backup of ``url`` (through ``dialect``) under the set name ``name`` belongs to."""
        return cls(dialect, server_identity(url, default_port), name)


def server_identity(url: DatabaseURL, default_port: int | None = None) -> str:
    """Where a database lives: ``host:port`` (lower-cased host), or an embedded database file's absolute path."""
    if not url.host:
        return os.path.abspath(url.database) if url.database and not url.is_memory else str(url.database)
    return f"{url.host.lower()}:{url.port or default_port or ''}".rstrip(":")


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
            if "server" not in columns:  # rows from before backup sets keep NULL: see _assign_sets
                conn.execute("ALTER TABLE backups ADD COLUMN server TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to the catalog; any SQLite failure becomes a :class:`CatalogError` naming the file.

        A full disk used to escape as ``sqlite3.OperationalError`` with a
        traceback, after the archive had been renamed into place: as a
        :class:`CatalogError` it is one of the failures ``create_backup``
        cleans up after (no archive is left that the catalog does not list).
        """
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise _catalog_error(self.path, exc) from None
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
            yield conn
        except sqlite3.Error as exc:
            raise _catalog_error(self.path, exc) from None
        finally:
            conn.close()

    def add(self, backup: Backup, *, parent_id: str | None, size_bytes: int, plain_bytes: int,
            status: str = "complete", depends_on: Iterable[str] = (), server: str | None = None) -> None:
        """Record a finished backup; ``server`` places it in its set (see :class:`BackupSet`)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO backups (backup_id, database_name, database_type, backup_type, parent_id, file_path, "
                "size_bytes, plain_bytes, created_at, compression, encryption, checksum, status, metadata, server) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (backup.backup_id, backup.database_name, backup.database_type, backup.backup_type, parent_id,
                 backup.file_path, size_bytes, plain_bytes, backup.created_at.isoformat(), backup.compression,
                 int(backup.encryption), backup.checksum, status, json.dumps(backup.metadata, sort_keys=True),
                 server),
            )
            deps = set(depends_on) | ({parent_id} if parent_id else set())
            deps.discard(backup.backup_id)
            conn.executemany("INSERT INTO backup_refs VALUES (?, ?)", [(backup.backup_id, d) for d in sorted(deps)])
            conn.execute("COMMIT")

    def list(self, database_name: str | None = None, backup_set: BackupSet | None = None) -> list[Backup]:
        """Backups oldest first: all, those named ``database_name``, or those of ``backup_set``.

        Each backup's ``metadata["backup_set"]`` is its set's key.
        """
        if backup_set is not None:
            database_name = backup_set.name
        sql = "SELECT * FROM backups"
        params: tuple[Any, ...] = ()
        if database_name is not None:
            sql += " WHERE database_name = ?"
            params = (database_name,)
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(sql + " ORDER BY created_at, backup_id", params).fetchall()
        backups = _assign_sets(rows, backup_set)
        if backup_set is not None:
            backups = [b for b in backups if b.metadata["backup_set"] == backup_set.key]
        return backups

    def sets(self, database_name: str | None = None) -> builtins.list[BackupSet]:
        """The distinct backup sets (of ``database_name``, when given), sorted."""
        found = {_set_of(b) for b in self.list(database_name)}
        return sorted(found)

    def get(self, backup_id: str) -> Backup:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM backups WHERE backup_id = ?", (backup_id,)).fetchone()
            if row is None:
                raise BackupNotFoundError(f"no backup {backup_id!r} in the catalog {self.path}; "
                                          "see `dbkeeper backup list`")
            if row["server"] is None:  # an old row: its set depends on its dialect and name's other rows
                siblings = conn.execute("SELECT * FROM backups WHERE database_name = ?",
                                        (row["database_name"],)).fetchall()
                return next(b for b in _assign_sets(siblings) if b.backup_id == backup_id)
        return _assign_sets([row])[0]

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


def _catalog_error(path: Path, exc: sqlite3.Error) -> CatalogError:
    reason = str(exc)
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "full" in reason:
        hint = "; free space on that filesystem and run the command again"
    elif "readonly" in reason or "read-only" in reason:
        hint = "; the catalog or its directory is not writable"
    else:
        hint = ""
    return CatalogError(f"the backup catalog {path} could not be used: {reason}{hint}")


def _dialect_of(row: sqlite3.Row) -> str:
    metadata = json.loads(row["metadata"])
    return str(metadata.get("dialect") or row["database_type"])


def _assign_sets(rows: list[sqlite3.Row], wanted: BackupSet | None = None) -> list[Backup]:
    """Backups with their set key; a row without a server joins the one server of its dialect and name.

    ``rows`` must hold every row of each name they mention (callers select by
    name or select everything), so "exactly one server" is decided on all of
    them. When a set is ``wanted`` (a backup of that server is being made or
    pruned), old rows of its dialect and name join it unless another server
    has rows of that name: the first backup after an upgrade still chains.
    """
    servers: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        if row["server"] is not None:
            servers.setdefault((_dialect_of(row), row["database_name"]), set()).add(row["server"])
    backups = []
    for row in rows:
        dialect = _dialect_of(row)
        server = row["server"]
        if server is None:
            known = servers.get((dialect, row["database_name"]), set())
            if wanted is not None and (wanted.dialect, wanted.name) == (dialect, row["database_name"]) \
                    and known <= {wanted.server}:
                server = wanted.server
            elif len(known) == 1:
                server = next(iter(known))
        backup = _to_backup(row)
        backup.metadata["backup_set"] = BackupSet(dialect, server, row["database_name"]).key
        backup.metadata["server"] = server
        backups.append(backup)
    return backups


def _set_of(backup: Backup) -> BackupSet:
    return BackupSet(str(backup.metadata.get("dialect") or backup.database_type), backup.metadata.get("server"),
                     backup.database_name)


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
