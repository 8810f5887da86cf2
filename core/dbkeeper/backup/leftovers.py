"""What interrupted restores left behind: noticed, named and removed.

A restore loads into a scratch copy next to the target (and PostgreSQL moves
the old data aside for a moment), so the target always holds complete data;
a SIGKILL can leave those copies. The dialect finds them by their fixed
names (``Dialect.restore_leftovers``); this module says WHEN to look, without
connecting to servers on every ``backup list``:

* every restore writes a note ``restores/<pid>-<hex>.json`` (0600, the
  target's location without any password) before it touches the server and
  deletes it when it ends, however it ends, except by SIGKILL;
* a note whose process is gone therefore marks a restore that was killed:
  ``backup list`` then asks that target's dialect for leftovers and names
  them; a note for a target without leftovers is deleted;
* ``dbkeeper backup leftovers [--to TARGET] [--remove]`` lists (and removes)
  them; the next restore into a target names them as a warning too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dbkeeper.backup.files import process_alive
from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection

_DIR = "restores"
REMOVE_HINT = "dbkeeper backup leftovers --remove"


@dataclass(frozen=True)
class TargetLeftovers:
    """The leftovers of one restore target: their names, or why they could not be listed."""

    target: DatabaseURL
    names: list[str]
    error: str | None = None

    def message(self) -> str:
        """One line for the user (no password: the URL is rendered masked)."""
        where = self.target.render()
        if self.error is not None:
            return f"a restore into {where} was interrupted; its leftovers could not be listed ({self.error})"
        return f"interrupted restores into {where} left {', '.join(self.names)}; remove them with `{REMOVE_HINT}`"


def _location(url: DatabaseURL) -> dict[str, object]:
    return {"scheme": url.scheme, "host": url.host, "port": url.port, "database": url.database,
            "username": url.username}


@contextlib.contextmanager
def restore_note(workspace: Path, url: DatabaseURL) -> Iterator[Path]:
    """Mark a restore into ``url`` as running for the block (the note outlives only a SIGKILL)."""
    directory = workspace / _DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{os.getpid()}-{secrets.token_hex(4)}.json"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "target": _location(url)}, f)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _notes(workspace: Path) -> list[tuple[Path, DatabaseURL]]:
    """Notes of restores whose process is gone (killed), oldest first."""
    directory = workspace / _DIR
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            note = json.loads(path.read_text(encoding="utf-8"))
            pid = int(note["pid"])
            loc = note["target"]
            url = DatabaseURL(scheme=loc["scheme"], host=loc["host"], port=loc["port"], database=loc["database"],
                              username=loc["username"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not process_alive(pid):
            found.append((path, url))
    return found


def _same_target(a: DatabaseURL, b: DatabaseURL) -> bool:
    return (a.scheme, a.host, a.port, a.database) == (b.scheme, b.host, b.port, b.database)


def interrupted_targets(workspace: Path) -> list[DatabaseURL]:
    """Targets of killed restores recorded in ``workspace``, each once."""
    targets: list[DatabaseURL] = []
    for _, url in _notes(workspace):
        if not any(_same_target(url, t) for t in targets):
            targets.append(url)
    return targets


def forget(workspace: Path, target: DatabaseURL) -> None:
    """Delete the notes of killed restores into ``target`` (nothing of theirs is left)."""
    for path, url in _notes(workspace):
        if _same_target(url, target):
            path.unlink(missing_ok=True)


def _connection(url: DatabaseURL) -> DatabaseConnection:
    from dbkeeper.engine.connection import DatabaseConnection

    return DatabaseConnection.from_url(url, name="dbkeeper-leftovers", connection_pool_size=1, max_retries=0,
                                       connection_timeout=10)


def find(url: DatabaseURL) -> list[str]:
    """The dialect's leftovers of restores into ``url``."""
    connection = _connection(url)
    try:
        return connection.dialect.restore_leftovers(connection)
    finally:
        connection.disconnect()


def remove(url: DatabaseURL, names: list[str]) -> None:
    """Remove ``names`` (each must be one of :func:`find`'s) from the target's server."""
    connection = _connection(url)
    try:
        for name in names:
            connection.dialect.remove_restore_leftover(connection, name)
    finally:
        connection.disconnect()


def report(workspace: Path, targets: list[DatabaseURL] | None = None) -> list[TargetLeftovers]:
    """Leftovers of ``targets`` (default: those of killed restores); notes of targets with none are deleted."""
    noted = targets is None
    found = []
    for url in interrupted_targets(workspace) if targets is None else targets:
        try:
            names = find(url)
        except DbKeeperError as exc:
            found.append(TargetLeftovers(url, [], str(exc)))
            continue
        if names:
            found.append(TargetLeftovers(url, names))
        elif noted:
            forget(workspace, url)
    return found
