"""Files an interrupted SQLite restore left next to its target.

A restore writes ``.<target file name>.dbkeeper-restore-<8 hex>`` in the
target's directory, checks it and renames it over the target; a SIGKILL
before the rename leaves that file (and maybe its ``-journal``/``-wal``/
``-shm``). The restore holds an exclusive ``flock`` on the file while it
works, so a restore still running is never listed or removed: the kernel
drops the lock when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from dbkeeper.backup.errors import RestoreTargetError

_SIDE_FILES = ("-journal", "-wal", "-shm")


def scratch_name(target: Path, token: str) -> Path:
    """The scratch file of a restore into ``target``."""
    return target.parent / f".{target.name}.dbkeeper-restore-{token}"


def lock(fd: int) -> None:
    """Mark the open scratch file as in use by this restore (until the descriptor is closed)."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _pattern(target: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{target.name}.dbkeeper-restore-") + r"[0-9a-f]{8}(-journal|-wal|-shm)?")


def _in_use(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # vanished or unreadable: not ours to report
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def leftovers(target: Path) -> list[str]:
    """Scratch files of ``target`` that no running restore holds, oldest first (full paths).

    A journal whose scratch file is already gone (a kill between the two
    unlinks) is listed on its own, so nothing of a killed restore stays behind.
    """
    if not target.parent.is_dir():
        return []
    pattern = _pattern(target)
    found = []
    for path in target.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        side = match.group(1)
        if side and Path(str(path)[: -len(side)]).exists():
            continue  # listed, and removed, with its scratch file
        found.append(path)
    found.sort(key=lambda p: p.stat().st_mtime)
    return [str(p) for p in found if not _in_use(p)]


def remove(target: Path, name: str) -> None:
    """Delete one of :func:`leftovers` (and its journal files); refuse anything else."""
    path = Path(name)
    if path.parent != target.parent or not _pattern(target).fullmatch(path.name):
        raise RestoreTargetError(f"{name!r} is not a restore leftover of {str(target)!r} (expected "
                                 f".{target.name}.dbkeeper-restore-<hex> next to it); nothing was removed")
    if name not in leftovers(target):
        raise RestoreTargetError(f"{name!r} does not exist or a restore still running is using it; "
                                 "nothing was removed")
    for suffix in ("", *_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
