"""Verification tiers.

* ``quick``: the stored bytes — header checksum, every frame's SHA-256, frame
  order, completion marker, nothing appended, whole-file SHA-256 against the
  catalog. Needs no key.
* ``full``: quick, then decrypt and decompress every chunk and check each
  chunk's and the whole plain stream's SHA-256.
* ``deep``: full, then restore into a scratch target the dialect makes
  (``Dialect.scratch_target``: a temp file for embedded databases, a scratch
  database on the same server otherwise), run the dialect's
  ``integrity_check`` on it and count the rows of every table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from dbkeeper.backup.archive import ArchiveReader
from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.chain import check_checksum, resolve, sequence_chunks
from dbkeeper.backup.crypto import EncryptionSettings, costs_more_than_defaults
from dbkeeper.backup.errors import BackupError, CorruptBackupError
from dbkeeper.backup.models import Backup
from dbkeeper.backup.pipeline import open_archive, plain_chunks, scan
from dbkeeper.urls import DatabaseURL


class ManagerView(Protocol):
    """What verification needs of :class:`dbkeeper.backup.manager.BackupManager`, which calls it.

    A protocol instead of an import: the manager imports this module, so
    naming the class here would close an import circle.
    """

    catalog: Catalog
    database_url: DatabaseURL | None

    def _original_url(self, manifest: dict[str, Any]) -> DatabaseURL: ...

    def restore_backup(self, backup_id: str, target_url: str | DatabaseURL | None = None, *,
                       encryption: EncryptionSettings | None = None, portable: bool = False) -> Any: ...


def verify(manager: ManagerView, backup: Backup, level: str, enc: EncryptionSettings | None, *,
           scratch_url: str | DatabaseURL | None, progress: Callable[[int], None] | None) -> list[str]:
    """Run the checks of ``level``; raise a ``BackupError`` subclass on the first failure.

    A header that does not hold what this version writes (a missing field,
    a string where a number belongs) is a :class:`CorruptBackupError` too,
    so :meth:`BackupManager.verify_backup` reports every damaged archive
    instead of raising.
    """
    try:
        return _verify(manager, backup, level, enc, scratch_url=scratch_url, progress=progress)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
        raise CorruptBackupError(f"backup {backup.backup_id}: the archive does not hold what dbkeeper writes "
                                 f"({type(exc).__name__}); it is damaged or was crafted") from None


def _verify(manager: ManagerView, backup: Backup, level: str, enc: EncryptionSettings | None, *,
            scratch_url: str | DatabaseURL | None, progress: Callable[[int], None] | None) -> list[str]:
    warnings: list[str] = []
    if not Path(backup.file_path).exists():
        raise BackupError(f"backup file {backup.file_path} is missing")
    if enc is not None:
        _check_files_first(manager, backup)
    chain = resolve(manager.catalog, backup, enc, need_key=level != "quick")
    archive = chain.archives[backup.backup_id]
    if level == "quick":
        if archive.cipher is None and backup.encryption:
            warnings.append("encrypted backup checked without its key: stored bytes only")
        if len(chain.archives) > 1:
            warnings.append(f"checked {len(chain.archives) - 1} archive(s) it depends on too")
        return warnings
    if chain.chained:
        for _ in sequence_chunks(chain, progress=progress):
            pass
    else:
        for _ in plain_chunks(archive, progress=progress):
            pass
    if level == "full":
        return warnings
    return warnings + _deep(manager, backup, enc, scratch_url)


def _check_files_first(manager: ManagerView, backup: Backup) -> None:
    """Compare an archive with the catalog before its header can make the KDF costly.

    The key derivation's cost comes from the archive header; checked only
    after it, a crafted header made ``verify`` allocate 64 GiB or hash for
    minutes. Every KDF parameter is bounded (see
    :func:`dbkeeper.backup.crypto.kdf_parameters`), and an archive (or one
    it depends on) whose header asks for more than the defaults is hashed
    and compared with the catalog first, so only a file the catalog
    recorded gets that far. Headers within the defaults cost no more than an
    honest verification and skip the extra read.
    """
    for backup_id in [backup.backup_id, *sorted(manager.catalog.depends_on(backup.backup_id))]:
        record = manager.catalog.get(backup_id)
        if not Path(record.file_path).is_file():
            continue  # resolve() names the missing archive
        with open(record.file_path, "rb") as f:
            try:
                slots = ArchiveReader(f, where=record.file_path).header.get("keys") or []
            except CorruptBackupError:
                continue  # resolve() reports it, without deriving any key
            if not isinstance(slots, list) or any(
                    not isinstance(slot, dict) or costs_more_than_defaults(slot.get("kdf")) for slot in slots):
                f.seek(0)
                digest = hashlib.sha256()
                while piece := f.read(1 << 20):
                    digest.update(piece)
                check_checksum(record, digest.hexdigest())


def _deep(manager: ManagerView, backup: Backup, enc: EncryptionSettings | None,
          scratch_url: str | DatabaseURL | None) -> list[str]:
    from dbkeeper.engine.plugins import get_registry

    dialect = get_registry().get_dialect(str(backup.metadata.get("dialect")))
    near: DatabaseURL | None = None
    if dialect.capabilities.server:
        if scratch_url is not None:
            near = DatabaseURL.parse(scratch_url)
        else:
            near = manager.database_url or manager._original_url(_location(manager, backup, enc))
    with dialect.scratch_target(near, prefix="dbk_verify") as url:
        # portable: a scratch server need not have the backup's roles, and owners do not change row counts
        manager.restore_backup(backup.backup_id, url, encryption=enc, portable=True)
        return _check(url)


def _location(manager: ManagerView, backup: Backup, enc: EncryptionSettings | None) -> dict[str, object]:
    archive = open_archive(backup.file_path, enc)
    return scan(archive)


def _check(url: DatabaseURL) -> list[str]:
    from dbkeeper.backup.errors import CorruptBackupError
    from dbkeeper.engine.connection import DatabaseConnection

    conn = DatabaseConnection.from_url(url, name="verify", connection_pool_size=1, max_retries=0)
    with conn:
        problems = conn.dialect.integrity_check(conn)
        if problems:
            raise CorruptBackupError(f"restored database failed its integrity check: {problems[:5]}")
        counts = []
        for table in conn.dialect.table_names(conn):
            n = conn.execute(f"SELECT COUNT(*) AS n FROM {conn.dialect.quote_identifier(table)}").rows[0]["n"]
            counts.append(f"{table}: {n} rows")
    return ["restored into a scratch database: " + ", ".join(counts)] if counts else []
