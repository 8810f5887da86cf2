"""``BackupManager``: create, list, verify, restore and delete backups.

The manager resolves where to connect, asks the dialect plugin for a dump
through the ``dbkeeper_dump`` hook, streams it through the pipeline into a
0600 temp file, fsyncs and renames it, and only then records it in the
catalog. Restores scan the whole archive (every stored-bytes hash, the frame
order and the completion marker, after unwrapping the key) before the
target is touched, then stream verified chunks into ``dbkeeper_restore``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbkeeper.backup import files
from dbkeeper.backup.archive import FORMAT_NAME, FORMAT_VERSION, KIND_END, KIND_MANIFEST, ArchiveWriter, core_digest
from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.codecs import get_codec
from dbkeeper.backup.crypto import (
    CIPHER,
    EncryptionSettings,
    FrameCipher,
    derive_kek,
    new_data_key,
    new_kdf_section,
    validate,
    wrap_key,
)
from dbkeeper.backup.errors import BackupError, RestoreTargetError
from dbkeeper.backup.models import Backup, BackupResult
from dbkeeper.backup.pipeline import (
    DEFAULT_CHUNK_SIZE,
    ChunkSink,
    PlainStream,
    open_archive,
    plain_chunks,
    scan,
    seal_json,
)
from dbkeeper.errors import DbKeeperError
from dbkeeper.redaction import redact
from dbkeeper.urls import DatabaseURL

Progress = Callable[[int], None]
BACKUP_TYPES = ("full",)
VERIFY_LEVELS = ("quick", "full", "deep")


def _mb(n: int) -> float:
    return round(n / (1 << 20), 3)


def new_backup_id() -> str:
    """Sortable, unique, filename-safe: ``20260101T120000Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def encryption_from(encryption: EncryptionSettings | None, passphrase: str | None,
                    key_file: str | os.PathLike[str] | None) -> EncryptionSettings | None:
    """Combine the convenience arguments into one :class:`EncryptionSettings` (or ``None``)."""
    if encryption is not None:
        return encryption
    if passphrase is not None or key_file is not None:
        return EncryptionSettings(passphrase=passphrase, key_file=key_file)
    return None


class BackupManager:
    """Backups of one or many databases, cataloged in a workspace directory.

    ``database_url`` is the default place to connect; ``database_name`` in
    the methods names the backup set (and is resolved through the config
    when no URL is given at all).
    """

    def __init__(self, workspace_dir: str | os.PathLike[str] | None = None,
                 database_url: str | DatabaseURL | None = None) -> None:
        from dbkeeper.workspace import resolve_workspace

        self.workspace = resolve_workspace(workspace_dir)
        self.database_url = DatabaseURL.parse(database_url) if database_url is not None else None
        self.catalog = Catalog(self.workspace / "catalog.db")

    # -- helpers ------------------------------------------------------------------------------
    def _resolve_url(self, database_name: str | None, database_url: str | DatabaseURL | None) -> DatabaseURL:
        if database_url is not None:
            return DatabaseURL.parse(database_url)
        if self.database_url is not None:
            return self.database_url
        from dbkeeper.config import resolve_database

        return resolve_database(database_name)[1]

    @staticmethod
    def _connection(url: DatabaseURL) -> Any:
        from dbkeeper.connection import DatabaseConnection

        return DatabaseConnection.from_url(url, name=DatabaseURL.parse(url).database or "backup",
                                           connection_pool_size=1, max_retries=0)

    # -- create ---------------------------------------------------------------------------------
    def create_backup(  # noqa: PLR0917 - the seed API's positional signature
            self, database_name: str, database_url: str | DatabaseURL | None = None,
                      backup_type: str = "full", compression: str = "gzip", include_schema: bool = True,
                      include_data: bool = True, *, compression_level: int | None = None,
                      encryption: EncryptionSettings | None = None, passphrase: str | None = None,
                      key_file: str | os.PathLike[str] | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                      workers: int | None = None, progress: Progress | None = None) -> BackupResult:
        """Back up ``database_name`` (at ``database_url``) into one archive; return the result.

        Bad settings (unknown compression, unusable encryption, unknown backup
        type) raise before any work starts; failures during the backup are
        reported in the result (``success=False``) and leave no file and no
        catalog entry.
        """
        start = time.perf_counter()
        if backup_type not in BACKUP_TYPES:
            raise BackupError(f"backup_type {backup_type!r} is not supported yet; use 'full'")
        if not (include_schema or include_data):
            raise BackupError("include_schema and include_data are both false: nothing to back up")
        codec = get_codec(compression, compression_level)
        enc = encryption_from(encryption, passphrase, key_file)
        if enc is not None:
            validate(enc)
        url = self._resolve_url(database_name, database_url)
        connection = self._connection(url)
        dialect = connection.dialect
        if not dialect.capabilities.dump:
            raise BackupError(f"dialect {dialect.name!r} cannot dump databases; check `dbkeeper plugins`")
        files.remove_stale_partials(self.workspace)
        backup_id = new_backup_id()
        directory = files.backup_dir(self.workspace, database_name)
        final = directory / f"{backup_id}{files.SUFFIX}"
        partial = files.partial_path(directory, backup_id)
        created = datetime.now(UTC)
        core: dict[str, Any] = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "backup_id": backup_id,
            "created_at": created.isoformat(), "backup_type": backup_type, "parent_id": None,
            "database_type": dialect.db_type, "dialect": dialect.name, "chunk_size": chunk_size,
            "compression": {"codec": codec.name, "level": codec.level},
            "encryption": {"cipher": CIPHER} if enc is not None else None,
        }
        header: dict[str, Any] = {"core": core, "keys": None}
        cipher = None
        if enc is not None:
            kdf = new_kdf_section(enc)
            data_key = new_data_key()
            digest = core_digest(core)
            header["keys"] = [{"kdf": kdf, "wrap": wrap_key(derive_kek(enc, kdf), data_key, digest)}]
            cipher = FrameCipher(data_key, digest)
        secrets_ = [url.password, *(enc.secrets() if enc else [])]
        fd = files.create_private(partial)
        sink: ChunkSink | None = None
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as f:
                writer = ArchiveWriter(f, header)
                sink = ChunkSink(writer, codec, cipher, chunk_size=chunk_size, workers=workers, progress=progress)
                dump_meta = self._dump(connection, sink, include_schema, include_data, backup_type)
                sink.finish()
                manifest = {
                    "format": FORMAT_NAME, "version": FORMAT_VERSION, "backup_id": backup_id,
                    "backup_type": backup_type, "parent_id": None, "database_name": database_name,
                    "database_type": dialect.db_type, "dialect": dialect.name,
                    "location": {"scheme": url.scheme, "host": url.host, "port": url.port,
                                 "database": url.database, "username": url.username},
                    "include_schema": include_schema, "include_data": include_data, "dump": dump_meta,
                    "compression": core["compression"], "encryption": _public_kdf(header),
                    "chunk_size": chunk_size, "chunks": [c.to_dict() for c in sink.chunks],
                    "plain_size": sink.plain_size, "plain_sha256": sink.plain_sha256,
                    "created_at": created.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                }
                n = len(sink.chunks)
                seal_json(writer, cipher, KIND_MANIFEST, n, manifest)
                seal_json(writer, cipher, KIND_END, n + 1, {"complete": True, "chunks": n, "manifest_chunks": n})
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, final)
            files.fsync_dir(directory)
            checksum = f"sha256:{writer.sha256}"
            size = final.stat().st_size
            backup = Backup(
                backup_id=backup_id, database_name=database_name, database_type=dialect.db_type,
                backup_type=backup_type, file_path=str(final), size_mb=_mb(size), created_at=created,
                compression=codec.name, encryption=enc is not None, checksum=checksum,
                metadata={"dialect": dialect.name, "plain_sha256": sink.plain_sha256,
                          "server_version": dump_meta.get("server_version"), "tool": dump_meta.get("tool"),
                          "tool_version": dump_meta.get("tool_version"), "include_schema": include_schema,
                          "include_data": include_data, "compression_level": codec.level},
            )
            self.catalog.add(backup, parent_id=None, size_bytes=size, plain_bytes=sink.plain_size)
        except (DbKeeperError, OSError) as exc:
            if sink is not None:
                sink.abort()
            for path in (partial, final):
                if path.exists() and (path == partial or not self._listed(backup_id)):
                    path.unlink()
            message = redact(str(exc), secrets_)
            return BackupResult(backup_id, False, time.perf_counter() - start, 0.0, message, [], None)
        except BaseException:
            if sink is not None:
                sink.abort()
            partial.unlink(missing_ok=True)
            raise
        return BackupResult(backup_id, True, time.perf_counter() - start, _mb(size), None, [], checksum)

    def _listed(self, backup_id: str) -> bool:
        try:
            self.catalog.get(backup_id)
        except BackupError:
            return False
        return True

    @staticmethod
    def _dump(connection: Any, sink: ChunkSink, include_schema: bool, include_data: bool,
              backup_type: str) -> dict[str, Any]:
        from dbkeeper.plugins import get_registry

        result = get_registry().hook.dbkeeper_dump(
            dialect=connection.dialect, connection=connection, sink=sink,
            options={"include_schema": include_schema, "include_data": include_data, "backup_type": backup_type},
        )
        return dict(result or {})

    # -- list / delete --------------------------------------------------------------------------
    def list_backups(self, database_name: str | None = None) -> list[Backup]:
        """Finished backups, oldest first (only those of ``database_name`` when given)."""
        return self.catalog.list(database_name)

    def get_backup(self, backup_id: str) -> Backup:
        return self.catalog.get(backup_id)

    def delete_backup(self, backup_id: str) -> bool:
        """Remove the catalog entry and the archive file; ``False`` when no such backup exists."""
        try:
            backup = self.catalog.get(backup_id)
        except BackupError:
            return False
        self.catalog.remove(backup_id)
        Path(backup.file_path).unlink(missing_ok=True)
        return True

    def rotate_key(self, backup_id: str, old: EncryptionSettings, new: EncryptionSettings) -> str:
        """Re-wrap the backup's data key under ``new`` (chunks untouched); return the new checksum."""
        from dbkeeper.backup.keys import rotate_key

        return rotate_key(self.catalog, backup_id, old, new)

    # -- restore ----------------------------------------------------------------------------------
    def restore_backup(self, backup_id: str, target_url: str | DatabaseURL | None = None, *,
                       replace: bool = False, encryption: EncryptionSettings | None = None,
                       passphrase: str | None = None, key_file: str | os.PathLike[str] | None = None,
                       workers: int | None = None, progress: Progress | None = None) -> BackupResult:
        """Restore ``backup_id`` into its original database or into ``target_url``.

        The archive is scanned in full before the target is touched; a
        non-empty target is refused unless ``replace`` is true. Errors raise
        (:class:`~dbkeeper.backup.errors.CorruptBackupError`,
        :class:`~dbkeeper.backup.errors.EncryptionError`, ...).
        """
        start = time.perf_counter()
        backup = self.catalog.get(backup_id)
        enc = encryption_from(encryption, passphrase, key_file)
        archive = open_archive(backup.file_path, enc)
        manifest = scan(archive)
        _check_catalog_checksum(backup, archive.file_sha256)
        url = DatabaseURL.parse(target_url) if target_url is not None else self._original_url(manifest)
        connection = self._connection(url)
        if connection.dialect.name != manifest["dialect"]:
            raise RestoreTargetError(f"backup {backup_id} is a {manifest['dialect']} dump; it cannot be restored "
                                     f"into a {connection.dialect.name} database")
        if not connection.dialect.capabilities.restore:
            raise BackupError(f"dialect {connection.dialect.name!r} cannot restore; check `dbkeeper plugins`")
        from dbkeeper.plugins import get_registry

        source = PlainStream(plain_chunks(archive, workers=workers, progress=progress, rescan=False))
        try:
            info = get_registry().hook.dbkeeper_restore(
                dialect=connection.dialect, connection=connection, source=source,
                options={"manifest": manifest, "replace": replace},
            )
        except DbKeeperError as exc:
            raise type(exc)(redact(str(exc), [url.password])) from None
        finally:
            connection.disconnect()
        warnings = list((info or {}).get("warnings", []))
        return BackupResult(backup_id, True, time.perf_counter() - start, backup.size_mb, None, warnings,
                            backup.checksum)

    def _original_url(self, manifest: dict[str, Any]) -> DatabaseURL:
        loc = manifest["location"]
        if self.database_url is not None and self.database_url.scheme == loc["scheme"] and (
                self.database_url.database == loc["database"]):
            return self.database_url
        return DatabaseURL(scheme=loc["scheme"], host=loc["host"], port=loc["port"], database=loc["database"],
                           username=loc["username"])

    # -- verify -----------------------------------------------------------------------------------
    def verify_backup(self, backup_id: str, level: str = "full", *, encryption: EncryptionSettings | None = None,
                      passphrase: str | None = None, key_file: str | os.PathLike[str] | None = None,
                      scratch_url: str | DatabaseURL | None = None, progress: Progress | None = None
                      ) -> BackupResult:
        """Check a backup: ``quick`` (stored bytes), ``full`` (decode everything), ``deep`` (restore it).

        Never raises for a damaged archive: the result says what is wrong.
        """
        from dbkeeper.backup.verify import verify

        start = time.perf_counter()
        if level not in VERIFY_LEVELS:
            raise BackupError(f"unknown verify level {level!r}; use one of {', '.join(VERIFY_LEVELS)}")
        backup = self.catalog.get(backup_id)
        enc = encryption_from(encryption, passphrase, key_file)
        try:
            warnings = verify(self, backup, level, enc, scratch_url=scratch_url, progress=progress)
        except DbKeeperError as exc:
            from dbkeeper.backup.errors import CorruptBackupError

            if isinstance(exc, CorruptBackupError):
                self.catalog.set_status(backup_id, "damaged")
            return BackupResult(backup_id, False, time.perf_counter() - start, backup.size_mb,
                                redact(str(exc), enc.secrets() if enc else []), [], backup.checksum)
        if backup.metadata.get("status") != "complete":
            self.catalog.set_status(backup_id, "complete")
        return BackupResult(backup_id, True, time.perf_counter() - start, backup.size_mb, None, warnings,
                            backup.checksum)


def _public_kdf(header: dict[str, Any]) -> dict[str, Any] | None:
    keys = header.get("keys")
    if not keys:
        return None
    return {"cipher": CIPHER, "kdf": keys[0]["kdf"]}


def _check_catalog_checksum(backup: Backup, sha256: str) -> None:
    from dbkeeper.backup.errors import CorruptBackupError

    if backup.checksum != f"sha256:{sha256}":
        raise CorruptBackupError(f"backup {backup.backup_id}: the file's SHA-256 differs from the catalog's "
                                 f"({backup.file_path} was changed after it was written)")
