"""The migration data model: :class:`Migration` and :class:`MigrationResult`.

These are the seed API's data classes, kept field for field so code written
against it ports unchanged. ``Migration.checksum`` is always the SHA-256 of
the (normalised) up SQL: it is recomputed whenever ``sql`` is assigned, so it
can never silently disagree with the SQL it describes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PENDING = "pending"
APPLIED = "applied"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
#: The four statuses a :class:`Migration` carries (the seed API's values).
STATUSES = (PENDING, APPLIED, FAILED, ROLLED_BACK)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def normalize_sql(sql: str) -> str:
    """The form of ``sql`` that is hashed: LF line endings, no leading/trailing whitespace.

    A checkout that converts line endings, or an editor that adds a final
    newline, must not look like drift; any other edit does.
    """
    return sql.replace("\r\n", "\n").replace("\r", "\n").strip()


def compute_checksum(sql: str) -> str:
    """SHA-256 (hex) of the normalised SQL."""
    return hashlib.sha256(normalize_sql(sql).encode("utf-8")).hexdigest()


@dataclass(eq=False)
class Migration:
    """One schema change: its up SQL, optional rollback SQL and dependencies.

    ``status`` and ``applied_at`` describe the migration in one database; they
    are filled from the history table by the manager, never trusted from a
    file. ``source`` is the file the migration was loaded from (``None`` for
    migrations built in code); ``down_source`` the separate rollback file of
    a ``.up.sql``/``.down.sql`` pair.
    """

    id: str
    name: str
    description: str = ""
    sql: str = ""
    rollback_sql: str | None = None
    dependencies: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    applied_at: datetime | None = None
    status: str = PENDING
    checksum: str = ""
    source: Path | None = field(default=None, repr=False)
    down_source: Path | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.id = str(self.id)
        self.dependencies = [str(d) for d in self.dependencies]

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "sql":
            self.__dict__["sql"] = value
            self.__dict__["checksum"] = compute_checksum(value)
        elif key == "checksum" and "sql" in self.__dict__:
            pass  # always the checksum of ``sql``, computed when ``sql`` was set
        else:
            self.__dict__[key] = value

    @classmethod
    def from_file(cls, *, id: str, name: str, description: str, sql: str, rollback_sql: str | None,  # noqa: A002
                  dependencies: list[str], source: Path, created_at: datetime | None = None,
                  down_source: Path | None = None) -> Migration:
        """Build a loaded migration without the per-attribute hook: loading 10,000 files stays fast.

        Without ``created_at`` it becomes the source file's modification time
        when first read: a ``stat`` per file would cost a sixth of loading a
        directory, for a value hardly anyone reads.
        """
        migration = cls.__new__(cls)
        migration.__dict__.update(
            id=id, name=name, description=description, sql=sql, rollback_sql=rollback_sql,
            dependencies=dependencies, applied_at=None, status=PENDING, checksum=compute_checksum(sql),
            source=source, down_source=down_source)
        if created_at is not None:
            migration.__dict__["created_at"] = created_at
        return migration

    def __getattr__(self, key: str) -> Any:
        """``created_at`` of migrations built by :meth:`from_file` without one (see there)."""
        if key != "created_at":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")
        source = self.__dict__.get("source")
        try:
            value = datetime.fromtimestamp(source.stat().st_mtime, UTC) if source else utcnow()
        except OSError:
            value = utcnow()
        self.__dict__["created_at"] = value
        return value

    @property
    def rollback_is_noop(self) -> bool:
        """Whether rolling back deliberately does nothing: the rollback exists but is empty (whitespace only).

        golang-migrate sets (Mattermost, ory/hydra) ship empty ``.down.sql``
        files for changes with nothing to undo. A comment-only file is *not*
        a no-op: ``migrate new`` writes a comment placeholder, and a
        placeholder never filled in must keep stopping the rollback.
        """
        return self.rollback_sql is not None and not self.rollback_sql.strip()

    @property
    def rollback_location(self) -> str:
        """The file the rollback SQL comes from (the ``.down.sql``, else the migration's own file)."""
        return str(self.down_source) if self.down_source is not None else self.location

    @property
    def location(self) -> str:
        """Where the migration comes from, for error messages: its file, or ``<code>``."""
        return str(self.source) if self.source is not None else "<code>"

    def to_dict(self) -> dict[str, Any]:
        """The JSON file form (the seed API's fields, timestamps as ISO-8601)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "sql": self.sql,
            "rollback_sql": self.rollback_sql,
            "dependencies": list(self.dependencies),
            "created_at": self.created_at.isoformat(),
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "status": self.status,
            "checksum": self.checksum,
        }


@dataclass
class MigrationResult:
    """What applying or rolling back one migration did.

    The first six fields are the seed API; ``execution_time`` is in seconds.
    ``statements`` holds the SQL a dry run would execute, in order;
    ``failed_statement`` the 1-based number of the statement that failed.
    """

    migration_id: str
    success: bool
    execution_time: float = 0.0
    error_message: str | None = None
    rows_affected: int = 0
    statements_executed: int = 0
    direction: str = "up"
    dry_run: bool = False
    statements: list[str] = field(default_factory=list)
    failed_statement: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented per-migration dict of :func:`~dbkeeper.migrations.run_migrations`."""
        return {
            "migration_id": self.migration_id,
            "success": self.success,
            "execution_time": self.execution_time,
            "error_message": self.error_message,
        }
