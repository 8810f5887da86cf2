"""``BackupManager``: create, list, verify, restore and delete backups.

The manager resolves where to connect, asks the dialect plugin for a dump
through ``Dialect.dump``, streams it through the pipeline into a
0600 temp file, fsyncs and renames it, and only then records it in the
catalog. Restores scan the whole archive (every stored-bytes hash, the frame
order and the completion marker, after unwrapping the key) before the
target is touched, then stream verified chunks into ``Dialect.restore``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbkeeper.backup import files
from dbkeeper.backup.catalog import BackupSet, Catalog
from dbkeeper.backup.chain import resolve, sequence_chunks
from dbkeeper.backup.create import (
    BACKUP_TYPES,
    Plan,
    Written,
    catalog_entry,
    check_settings,
    encryption_from,
    new_backup_id,
    plan_backup,
    references,
    seal_header,
    write_archive,
)
from dbkeeper.backup.crypto import EncryptionSettings
from dbkeeper.backup.errors import BackupError, BackupSetError, DependentBackupsError, RestoreTargetError
from dbkeeper.backup.models import Backup, BackupResult, PruneResult
from dbkeeper.backup.pipeline import ChunkSink, PlainStream, open_archive, plain_chunks
from dbkeeper.backup.retention import BackupNode, check_policy, dependents_first, plan_retention
from dbkeeper.errors import DbKeeperError
from dbkeeper.redaction import redact
from dbkeeper.urls import DatabaseURL

Progress = Callable[[int], None]
__all__ = ["BACKUP_TYPES", "VERIFY_LEVELS", "BackupManager", "encryption_from", "new_backup_id"]
VERIFY_LEVELS = ("quick", "full", "deep")


def _mb(n: int) -> float:
    return round(n / (1 << 20), 3)


def _warnings(dump_meta: dict[str, Any]) -> list[str]:
    """What the user is told about a dump: its ``warnings``, and key ranges that were all read again.

    A dialect that reuses a base's key ranges says in ``reuse_skipped`` why
    it could not this time (see ``Dialect.dump``); that matters
    to the user only when there were ranges to reuse.
    """
    warnings = [str(w) for w in dump_meta.get("warnings") or []]
    if dump_meta.get("reuse_skipped") and dump_meta.get("ranges_exported"):
        warnings.insert(0, f"every key range was read again, none reused from the base backup: "
                           f"{dump_meta['reuse_skipped']}")
    return warnings


def _fallback_warning(reason: str, requested: str, dump_meta: dict[str, Any]) -> str:
    """What an incremental or differential that became a full says (see ``BackupManager._base``)."""
    if dump_meta.get("chainable"):
        return (f"{reason}; took a chainable full backup instead of the {requested} one (later incremental "
                "and differential backups build on it)")
    return (f"{reason}; took a full backup instead of the {requested} one (a schema-only or data-only backup "
            "cannot be a chain base)")


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
        from dbkeeper.engine.connection import DatabaseConnection

        return DatabaseConnection.from_url(url, name=DatabaseURL.parse(url).database or "backup",
                                           connection_pool_size=1, max_retries=0)

    # -- create ---------------------------------------------------------------------------------
    def create_backup(  # noqa: PLR0917 - the seed API's positional signature
            self, database_name: str, database_url: str | DatabaseURL | None = None,
                      backup_type: str = "full", compression: str = "gzip", include_schema: bool = True,
                      include_data: bool = True, *, compression_level: int | None = None,
                      encryption: EncryptionSettings | None = None, passphrase: str | None = None,
                      key_file: str | os.PathLike[str] | None = None, chunk_size: int | None = None,
                      workers: int | None = None, progress: Progress | None = None,
                      chainable: bool | None = None,
                      key_source: Callable[[], EncryptionSettings | None] | None = None) -> BackupResult:
        """Back up ``database_name`` (at ``database_url``) into one archive; return the result.

        ``chainable`` decides whether a full backup can be the base of later
        incremental and differential backups: its rows are exported in key
        order and cut on row boundaries. ``None`` (the default) asks the
        dialect (``Dialect.chainable_fulls_by_default``: SQLite, MySQL/MariaDB
        and Redis yes, their chainable dump costing about what the native one
        does; PostgreSQL no, ``pg_dump -Fc`` is still faster; see
        ``docs/backups.md``); ``False`` takes the native dump (``pg_dump -Fc``,
        ``mariadb-dump``) where there is one.

        ``backup_type="incremental"`` stores only the chunks the latest backup
        of ``database_name`` (of any type) lacks, ``"differential"`` only those
        the latest full backup lacks; both need a dialect with the
        ``incremental`` capability. Without a usable base (none yet, or one
        that is not chainable) the backup becomes a chainable full and its
        result's ``warnings`` say so (see ``docs/backups.md``). ``chunk_size`` sets the chunk size of a full
        backup (the average, for content-defined chunking; default: the
        dialect's chunking, or 4 MiB); chained backups inherit their base's.

        Bad settings (unknown compression, unusable encryption, unknown backup
        type, a damaged base or one encrypted otherwise) raise before any work starts; failures during
        the backup are reported in the result (``success=False``) and leave
        no file and no catalog entry.
        """
        start = time.perf_counter()
        settings = check_settings(backup_type, compression, compression_level=compression_level,
                                  include_schema=include_schema, include_data=include_data,
                                  encryption=encryption_from(encryption, passphrase, key_file))
        url = self._resolve_url(database_name, database_url)
        plan = plan_backup(self.catalog, settings, database_name, url, self._connection(url), chainable=chainable,
                           chunk_size=chunk_size, key_source=key_source)
        header, cipher = seal_header(plan)
        files.remove_stale_partials(self.workspace)
        directory = files.backup_dir(self.workspace, database_name)
        final = directory / f"{plan.backup_id}{files.SUFFIX}"
        partial = files.partial_path(directory, plan.backup_id)
        sinks: list[ChunkSink] = []
        fd = files.create_private(partial)
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as f:
                written = write_archive(plan, f, header, cipher, workers=workers, progress=progress,
                                        on_sink=sinks.append)
                os.fsync(f.fileno())
            os.replace(partial, final)
            files.fsync_dir(directory)
            self._record(plan, written, str(final))
        except (DbKeeperError, OSError) as exc:
            for sink in sinks:
                sink.abort()
            for path in (partial, final):
                if path.exists() and (path == partial or not self._listed(plan.backup_id)):
                    path.unlink()
            message = redact(str(exc), plan.secrets)
            return BackupResult(plan.backup_id, False, time.perf_counter() - start, 0.0, message, [], None)
        except BaseException:
            for sink in sinks:
                sink.abort()
            partial.unlink(missing_ok=True)
            raise
        return self._created(plan, written, time.perf_counter() - start)

    def _record(self, plan: Plan, written: Written, file_path: str) -> Backup:
        """Insert the finished archive at ``file_path`` into the catalog (the backup exists from here on)."""
        backup = catalog_entry(plan, written, file_path)
        self.catalog.add(backup, parent_id=plan.base.backup_id if plan.base else None, size_bytes=written.size,
                         plain_bytes=int(written.manifest["plain_size"]), depends_on=references(plan),
                         server=plan.backup_set.server)
        return backup

    @staticmethod
    def _created(plan: Plan, written: Written, duration: float) -> BackupResult:
        """The successful result: what the user is told (the fallback to a full, the dump's warnings)."""
        dump_meta = written.dump_meta
        told = [_fallback_warning(plan.no_base, plan.requested, dump_meta)] if plan.no_base is not None else []
        warnings = [redact(str(w), plan.secrets) for w in [*told, *_warnings(dump_meta)]]
        return BackupResult(plan.backup_id, True, duration, _mb(written.size), None, warnings,
                            f"sha256:{written.sha256}")

    def _listed(self, backup_id: str) -> bool:
        try:
            self.catalog.get(backup_id)
        except BackupError:
            return False
        return True

    # -- list / delete --------------------------------------------------------------------------
    def list_backups(self, database_name: str | None = None) -> list[dict[str, Any]]:
        """Seed API: finished backups as dicts (:meth:`Backup.to_dict`), oldest first; see :meth:`get_backups`."""
        return [backup.to_dict() for backup in self.catalog.list(database_name)]

    def get_backups(self, database_name: str | None = None) -> list[Backup]:
        """Finished backups as :class:`Backup` objects, oldest first (only those of ``database_name`` when given)."""
        return self.catalog.list(database_name)

    def get_backup(self, backup_id: str) -> Backup:
        return self.catalog.get(backup_id)

    def delete_backup(self, backup_id: str, *, cascade: bool = False) -> bool:
        """Remove the catalog entry and the archive file; ``False`` when no such backup exists.

        A backup that others depend on (their parent, or the holder of chunks
        they reference) is refused with :class:`DependentBackupsError` unless
        ``cascade`` is true, which deletes those dependents first (newest
        first, so no chain is ever left pointing at a missing archive).
        """
        try:
            self.catalog.get(backup_id)
        except BackupError:
            return False
        dependents = self.catalog.dependents(backup_id)
        if dependents and not cascade:
            raise DependentBackupsError(
                f"backup {backup_id} is needed by {len(dependents)} other backup(s) "
                f"({', '.join(sorted(dependents)[:5])}{', ...' if len(dependents) > 5 else ''}); "
                "delete them first or pass cascade=True (--cascade) to delete them too")
        nodes = self._nodes(None)
        for victim in [*dependents_first(dependents, nodes), backup_id]:
            self._remove(victim)
        return True

    def _remove(self, backup_id: str) -> None:
        backup = self.catalog.get(backup_id)
        self.catalog.remove(backup_id)
        Path(backup.file_path).unlink(missing_ok=True)

    def _nodes(self, backup_set: BackupSet | None) -> dict[str, BackupNode]:
        deps = self.catalog.all_dependencies()
        backups = self.catalog.list(backup_set=backup_set) if backup_set is not None else self.catalog.list()
        return {b.backup_id: BackupNode(b.backup_id, b.created_at, frozenset(deps.get(b.backup_id, ())),
                                        bool(b.metadata.get("pinned")))
                for b in backups}

    def backup_set(self, database_name: str, database_url: str | DatabaseURL | None = None) -> BackupSet | None:
        """The set named ``database_name`` on the server of ``database_url``, or the only set of that name.

        ``None`` when no backup has that name (and no server was given).
        A name several servers share is refused with :class:`BackupSetError`
        unless ``database_url`` says which server: a prune or a chain must
        never mix two databases that only share a name.
        """
        if database_url is not None:
            from dbkeeper.engine.plugins import get_registry

            url = DatabaseURL.parse(database_url)
            dialect = get_registry().dialect_for_url(url)
            return BackupSet.of(url, dialect.name, database_name, dialect.default_port)
        sets = self.catalog.sets(database_name)
        if len(sets) > 1:
            listed = "; ".join(s.describe() for s in sets)
            raise BackupSetError(f"backup set name {database_name!r} is used on several servers ({listed}); say "
                                 "which with database_url (--db URL_OR_NAME)")
        return sets[0] if sets else None

    def pin(self, backup_id: str) -> None:
        """Pin a backup: ``prune`` keeps it (and everything it depends on) whatever the policy."""
        self.catalog.set_pinned(backup_id, True)

    def unpin(self, backup_id: str) -> None:
        """Undo :meth:`pin`."""
        self.catalog.set_pinned(backup_id, False)

    def prune(self, database_name: str, *, keep_last: int | None = None, keep_daily: int | None = None,
              keep_weekly: int | None = None, keep_monthly: int | None = None, dry_run: bool = False,
              database_url: str | DatabaseURL | None = None) -> PruneResult:
        """Delete the backups of the set ``database_name`` that the retention policy does not keep.

        The policy (:mod:`dbkeeper.backup.retention`) keeps pinned backups and
        everything a kept backup depends on, so no chain is broken. With
        ``dry_run`` nothing is deleted; the result says what would be. A set
        name several servers share needs ``database_url`` to say which
        (:meth:`backup_set`).
        """
        try:
            check_policy(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly,
                         keep_monthly=keep_monthly)
        except ValueError as exc:
            raise BackupError(str(exc)) from None
        backup_set = self.backup_set(database_name, database_url)
        nodes = self._nodes(backup_set) if backup_set is not None else {}
        try:
            plan = plan_retention(nodes.values(), keep_last=keep_last, keep_daily=keep_daily,
                                  keep_weekly=keep_weekly, keep_monthly=keep_monthly)
        except ValueError as exc:
            raise BackupError(str(exc)) from None
        freed = 0
        for backup_id in plan.delete:
            freed += int(self.catalog.get(backup_id).metadata.get("size_bytes") or 0)
            if not dry_run:
                self._remove(backup_id)
        return PruneResult(database_name, plan.delete, plan.keep, dry_run, _mb(freed))

    def rotate_key(self, backup_id: str, old: EncryptionSettings, new: EncryptionSettings, *,
                   keep_old: bool = False) -> str:
        """Re-wrap the backup's data key under ``new`` (chunks untouched); return the new checksum.

        ``keep_old`` keeps the existing key slots next to the new one.
        """
        from dbkeeper.backup.keys import rotate_key

        return rotate_key(self.catalog, backup_id, old, new, keep_old=keep_old)

    def rekey(self, backup_ids: list[str], old: EncryptionSettings, new: EncryptionSettings, *,
              keep_old: bool = False) -> dict[str, str]:
        """:meth:`rotate_key` for several backups (a whole chain); return ``{backup_id: new checksum}``.

        Every backup is checked to open with ``old`` before any is rewritten,
        so a wrong key leaves all of them as they were.
        """
        from dbkeeper.backup.errors import EncryptionError

        for backup_id in backup_ids:
            backup = self.catalog.get(backup_id)
            if not backup.encryption:
                raise EncryptionError(f"backup {backup_id} is not encrypted; there is no key to rotate")
            open_archive(backup.file_path, old)
        return {b: self.rotate_key(b, old, new, keep_old=keep_old) for b in backup_ids}

    # -- restore ----------------------------------------------------------------------------------
    def restore_backup(self, backup_id: str, target_url: str | DatabaseURL | None = None, *,
                       replace: bool = False, encryption: EncryptionSettings | None = None,
                       passphrase: str | None = None, key_file: str | os.PathLike[str] | None = None,
                       workers: int | None = None, progress: Progress | None = None,
                       portable: bool = False, background_cleanup: bool = False) -> BackupResult:
        """Restore ``backup_id`` into its original database or into ``target_url``.

        The archive is scanned in full before the target is touched; a
        non-empty target is refused unless ``replace`` is true. Errors raise
        (:class:`~dbkeeper.backup.errors.CorruptBackupError`,
        :class:`~dbkeeper.backup.errors.EncryptionError`, ...).

        Owners and grants come back as they were (PostgreSQL: the roles the
        dump names must exist, else the restore is refused before anything
        changes); ``portable`` drops them instead, for a server without those
        roles (see ``docs/restores.md``). Leftovers of interrupted restores
        into the target are named in the result's warnings.

        ``background_cleanup`` lets a dialect that moved the old data aside
        (PostgreSQL ``replace``) drop that copy in a detached child after this
        call returns, instead of waiting for it (the CLI does this: the drop
        is slow right after a load). The new data is committed before; a
        failed drop leaves the copy as a leftover that the next restore and
        ``dbkeeper backup leftovers`` name.
        """
        start = time.perf_counter()
        backup = self.catalog.get(backup_id)
        enc = encryption_from(encryption, passphrase, key_file)
        from dbkeeper.backup.leftovers import REMOVE_HINT

        with contextlib.ExitStack() as stack:
            chain, url, connection, left = self._scan_and_connect(stack, backup, enc, target_url)
            stack.callback(connection.disconnect)
            manifest = chain.manifest
            if chain.chained:
                source = PlainStream(sequence_chunks(chain, workers=workers, progress=progress))
            else:
                archive = chain.archives[backup_id]
                source = PlainStream(plain_chunks(archive, workers=workers, progress=progress, rescan=False))
            try:
                info = connection.dialect.restore(
                    connection, source, {"manifest": manifest, "replace": replace, "portable": portable,
                                         "detach_drop": background_cleanup})
            except DbKeeperError as exc:
                raise type(exc)(redact(str(exc), [url.password])) from None
        warnings = [f"interrupted restores left {', '.join(left)} on the target's server; remove them with "
                    f"`{REMOVE_HINT} --to <target>`"] if left else []
        warnings += [redact(str(w), [url.password]) for w in (info or {}).get("warnings", [])]
        return BackupResult(backup_id, True, time.perf_counter() - start, backup.size_mb, None, warnings,
                            backup.checksum)

    def _scan_and_connect(self, stack: contextlib.ExitStack[Any], backup: Backup,
                          enc: EncryptionSettings | None, target_url: str | DatabaseURL | None
                          ) -> tuple[Any, DatabaseURL, Any, list[str]]:
        """The restore's pre-scan, overlapped with connecting and listing the target's leftovers.

        The scan (every stored byte hashed, the file's SHA-256 against the
        catalog, the chain resolved) runs in a thread while this one imports
        the driver, connects and lists leftovers (about 0.2-0.3 s of a whole
        command): hashing and file reads release the GIL. Nothing of the
        archive reaches the target before the scan has passed, and a damaged
        archive or a backup of another dialect is the error reported even
        when the server also failed. The restore note (``stack``) marks the
        restore as running from the leftovers query on.
        """
        from concurrent.futures import ThreadPoolExecutor

        from dbkeeper.backup.leftovers import restore_note

        with ThreadPoolExecutor(1, thread_name_prefix="dbkeeper-prescan") as pool:
            scanned = pool.submit(resolve, self.catalog, backup, enc)
            url = (self._original_url(scanned.result().manifest) if target_url is None
                   else DatabaseURL.parse(target_url))
            connection = self._connection(url)
            try:
                stack.enter_context(restore_note(self.workspace, url))
                left = connection.dialect.restore_leftovers(connection)
            except BaseException as exc:
                self._check_restorable(backup.backup_id, scanned.result().manifest, connection)
                connection.disconnect()
                if isinstance(exc, DbKeeperError):
                    raise type(exc)(redact(str(exc), [url.password])) from None
                raise
            chain = scanned.result()
        try:
            self._check_restorable(backup.backup_id, chain.manifest, connection)
        except BaseException:
            connection.disconnect()
            raise
        return chain, url, connection, left

    @staticmethod
    def _check_restorable(backup_id: str, manifest: dict[str, Any], connection: Any) -> None:
        if connection.dialect.name != manifest["dialect"]:
            raise RestoreTargetError(f"backup {backup_id} is a {manifest['dialect']} dump; it cannot be restored "
                                     f"into a {connection.dialect.name} database")
        if not connection.dialect.capabilities.restore:
            raise BackupError(f"dialect {connection.dialect.name!r} cannot restore; check `dbkeeper plugins`")

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


def _check_catalog_checksum(backup: Backup, sha256: str) -> None:
    from dbkeeper.backup.errors import CorruptBackupError

    if backup.checksum != f"sha256:{sha256}":
        raise CorruptBackupError(f"backup {backup.backup_id}: the file's SHA-256 differs from the catalog's "
                                 f"({backup.file_path} was changed after it was written)")
