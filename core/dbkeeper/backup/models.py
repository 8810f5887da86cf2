"""The seed API's data classes: ``Backup`` (a catalog entry) and ``BackupResult``.

Field names and meanings follow the seed API exactly, so ported code keeps
working; ``metadata`` carries everything else (parent, plain size, tool
versions), never a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Backup:
    """One finished backup as listed in the catalog."""

    backup_id: str
    database_name: str
    database_type: str
    backup_type: str
    file_path: str
    size_mb: float
    created_at: datetime
    compression: str = "none"
    encryption: bool = False
    checksum: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The seed API's dict form (what ``BackupManager.list_backups`` returns); ``created_at`` in ISO 8601."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass
class BackupResult:
    """Outcome of ``create_backup``/``restore_backup``/``verify_backup``.

    ``checksum`` is the SHA-256 of the archive file (``sha256:<hex>``).
    """

    backup_id: str
    success: bool
    duration: float
    file_size_mb: float
    error_message: str | None = None
    warnings: list[str] = field(default_factory=list)
    checksum: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneResult:
    """Outcome of ``BackupManager.prune``: what was (or, with ``dry_run``, would be) deleted and kept.

    ``kept`` maps each kept backup id to the rules that kept it (``last``,
    ``daily``, ``weekly``, ``monthly``, ``pinned``, ``needed by a kept backup``).
    """

    database_name: str
    deleted: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)
    dry_run: bool = False
    freed_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
