"""Archive files on disk: where they live, 0600 temp files, fsync and atomic rename.

A backup is written to ``.<id>.<pid>.partial`` next to its final name, then
fsynced, renamed, and the directory fsynced. Leftover partial files of dead
processes (a SIGKILL mid-backup) are removed the next time a backup starts.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

SUFFIX = ".dbkb"
_PARTIAL = re.compile(r"^\.(?P<id>[^.]+)\.(?P<pid>\d+)\.partial$")


def safe_component(name: str) -> str:
    """A directory name derived from a database name (no separators, no dots first)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "database"
    return cleaned[:100]


def backup_dir(workspace: Path, database_name: str) -> Path:
    path = workspace / "backups" / safe_component(database_name)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def partial_path(directory: Path, backup_id: str) -> Path:
    return directory / f".{backup_id}.{os.getpid()}.partial"


def create_private(path: Path) -> int:
    """Create ``path`` exclusively with mode 0600 and return its descriptor."""
    return os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(workspace: Path) -> list[Path]:
    """Delete partial archives left by processes that no longer exist; return them."""
    removed: list[Path] = []
    root = workspace / "backups"
    if not root.is_dir():
        return removed
    for path in root.glob("*/.*.partial"):
        match = _PARTIAL.match(path.name)
        if match and not process_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed
