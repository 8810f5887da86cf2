"""What the migration engine needs from SQLite: splitting, transaction rules and the lock.

- Splitting uses SQLite's lexical rules (``[bracketed]`` and backtick
  identifiers; trigger bodies ``BEGIN ... END`` stay whole).
- ``VACUUM``, ``ATTACH``/``DETACH`` and ``PRAGMA journal_mode`` cannot run
  inside a transaction, and ``PRAGMA foreign_keys`` is silently ignored in
  one, so all of them run on their own (the table-rebuild recipe
  ``PRAGMA foreign_keys=OFF; ...; PRAGMA foreign_keys=ON`` then really turns
  enforcement off around the rebuild, which itself stays one transaction).
- The migration lock is an OS file lock on ``<database>.<table>.lock`` next to
  the database file (the kernel releases it when the holder dies, so a crash
  never leaves it stale); in-memory databases, visible to one process only,
  use a process-local lock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbkeeper.sql.split import SQLITE, keywords, split_sql

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

_NON_TRANSACTIONAL_PRAGMAS = frozenset({"FOREIGN_KEYS", "JOURNAL_MODE"})


class SQLiteMigrationSupport:
    """Mixin for :class:`~dbkeeper_sqlite.dialect.SQLiteDialect` (listed before ``Dialect``)."""

    def split_statements(self, sql: str) -> list[str]:
        """Split with SQLite's lexical rules."""
        return split_sql(sql, SQLITE)

    def is_non_transactional(self, statement: str) -> bool:
        """``VACUUM``, ``ATTACH``, ``DETACH``, ``PRAGMA foreign_keys`` and ``PRAGMA journal_mode``."""
        words = keywords(statement, 3, SQLITE)
        if not words:
            return False
        if words[0] in ("VACUUM", "ATTACH", "DETACH"):
            return True
        if words[0] == "PRAGMA" and len(words) > 1:
            name = words[-1] if len(words) > 2 and words[1] == "" else words[1]
            return name.split(".")[-1] in _NON_TRANSACTIONAL_PRAGMAS
        return False

    def commits_implicitly(self, statement: str) -> bool:
        """Nothing in SQLite commits an open transaction by itself."""
        return False

    def current_schema(self, connection: Session) -> str | None:
        """``None``: the history table lives in ``main`` under its plain name."""
        return None

    def migration_table_exists(self, connection: Session, table: str, schema: str | None) -> bool:
        """Looks the table up in ``sqlite_master`` (one cheap query)."""
        row = connection.execute("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (table,)).first()
        return row is not None

    def migration_lock(self, connection: Session, name: str, timeout: float) -> AbstractContextManager[Any]:
        """A file lock next to the database file; a process-local lock for ``:memory:``."""
        from dbkeeper.migrations.locking import FileLock, ProcessLock

        url = connection.url
        if url.is_memory:
            return ProcessLock(f"{id(connection)}:{name}", name, timeout)
        database = Path(url.database or "").expanduser().resolve()
        suffix = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.rsplit(":", 1)[-1])
        return FileLock(database.with_name(f"{database.name}.{suffix}.lock"), name, timeout)
