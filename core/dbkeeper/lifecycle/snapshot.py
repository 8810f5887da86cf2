"""SQLite pre-upgrade snapshots: take one, compare against it, put it back.

SQLite rolls DDL back with the transaction, but a hook can still end the
upgrade transaction behind the lifecycle's back (through ``self.db.raw``, or a
statement that commits). So before an upgrade the database file is copied
with the online backup API (consistent even while the lifecycle's own
connection holds the write lock), and after a failed upgrade the rolled-back
file is compared with the copy; only if they differ (or the rollback itself
failed) is the copy restored, again through the backup API.

Everything here is blocking and runs through ``asyncio.to_thread``. Snapshot
files are created with mode 0600, written under a temporary name, fsynced and
renamed, like every other file dbkeeper writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from pathlib import Path

#: Busy timeout for the helper connections, in seconds.
BUSY_TIMEOUT = 30.0
_SIDE_FILES = ("-wal", "-shm", "-journal")


def snapshot_path_for(database: Path) -> Path:
    """Where the pre-upgrade snapshot of ``database`` lives (next to it)."""
    return database.with_name(database.name + ".pre-upgrade")


def set_aside_stale_snapshot(snapshot: Path) -> Path | None:
    """Rename a snapshot left by an earlier, interrupted upgrade so it is never overwritten.

    Returns the new name, or ``None`` when there was nothing to set aside.
    """
    if not snapshot.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for attempt in range(1000):
        suffix = f".{stamp}" if attempt == 0 else f".{stamp}-{attempt}"
        kept = snapshot.with_name(snapshot.name + suffix)
        if not kept.exists():
            os.replace(snapshot, kept)
            return kept
    raise FileExistsError(f"too many stale snapshots next to {snapshot}")


def take_snapshot(database: Path, snapshot: Path) -> None:
    """Copy ``database`` to ``snapshot`` with the online backup API (0600, fsynced, renamed)."""
    temporary = snapshot.with_name(snapshot.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = _open_existing(database, "rw")
        try:
            target = sqlite3.connect(temporary)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        _fsync(temporary)
        os.replace(temporary, snapshot)
        _fsync_directory(snapshot.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def restore_snapshot(snapshot: Path, database: Path) -> None:
    """Write ``snapshot`` back into ``database`` page by page (the file keeps its journal mode)."""
    source = _open_existing(snapshot, "ro")
    try:
        target = _open_existing(database, "rw")
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def fingerprint(database: Path) -> str:
    """SHA-256 of the database's SQL dump: equal for equal schema and data."""
    digest = hashlib.sha256()
    conn = _open_existing(database, "rw")
    try:
        for line in conn.iterdump():
            digest.update(line.encode("utf-8", "surrogatepass"))
            digest.update(b"\n")
    finally:
        conn.close()
    return digest.hexdigest()


def remove_snapshot(snapshot: Path) -> None:
    """Delete a snapshot that is no longer needed."""
    with contextlib.suppress(FileNotFoundError):
        snapshot.unlink()


def remove_database(database: Path, created_directories: list[Path]) -> None:
    """Delete a database file created by a startup that failed, with its side files and new directories."""
    for suffix in ("", *_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            Path(str(database) + suffix).unlink()
    for directory in reversed(created_directories):
        try:
            directory.rmdir()
        except OSError:
            break


def _open_existing(path: Path, mode: str) -> sqlite3.Connection:
    """Open a database file that must already exist (``sqlite3.connect`` would create a missing one)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
