"""The workspace metrics store: one SQLite file (mode 0600) other processes can read.

The recorder appends query samples here when it flushes; the analyser and
``dbkeeper monitor report`` read them back, from any process that shares the
workspace. WAL mode lets a reader and a writer work at once. Retention is
applied on every write: samples older than ``max_age`` seconds go, and each
connection keeps at most ``max_rows`` samples (newest first).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbkeeper.monitoring.errors import MonitoringError

#: File name of the store inside the workspace.
STORE_FILE = "monitoring.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS query_samples (
    connection TEXT NOT NULL,
    ts REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    row_count INTEGER NOT NULL,
    error INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS query_samples_conn_ts ON query_samples (connection, ts);
"""


@dataclass(frozen=True)
class Sample:
    """One recorded statement execution, as stored."""

    connection: str
    ts: float
    fingerprint: str
    duration_ms: float
    row_count: int
    error: bool


class MetricsStore:
    """Read and write query samples in ``path`` (created 0600 on first write)."""

    def __init__(self, path: str | os.PathLike[str], *, max_age: float = 7 * 86400,
                 max_rows: int = 200_000) -> None:
        self.path = Path(path)
        self.max_age = max_age
        self.max_rows = max_rows

    @classmethod
    def in_workspace(cls, workspace_dir: str | os.PathLike[str] | None = None) -> MetricsStore:
        """The store of ``workspace_dir`` (see :func:`dbkeeper.workspace.resolve_workspace`)."""
        from dbkeeper.workspace import resolve_workspace

        return cls(resolve_workspace(workspace_dir) / STORE_FILE)

    @contextmanager
    def _open(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if create and not self.path.exists():
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise MonitoringError(f"cannot create the metrics store {self.path}: {exc}") from None
        try:
            conn = sqlite3.connect(self.path, timeout=10.0)
        except sqlite3.Error as exc:
            raise MonitoringError(f"cannot open the metrics store {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            yield conn
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise MonitoringError(f"metrics store {self.path} failed: {exc}; delete the file to start afresh") \
                from None
        finally:
            conn.close()
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.chmod(0o600)

    def append(self, samples: Iterable[Sample], *, now: float) -> int:
        """Store ``samples`` and apply retention; return how many were written."""
        rows = [(s.connection, s.ts, s.fingerprint, s.duration_ms, s.row_count, int(s.error)) for s in samples]
        with self._open(create=True) as conn:
            conn.executemany("INSERT INTO query_samples VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("DELETE FROM query_samples WHERE ts < ?", (now - self.max_age,))
            for (name,) in {(r[0],) for r in rows}:
                conn.execute(
                    "DELETE FROM query_samples WHERE connection = ? AND ts < (SELECT ts FROM query_samples "
                    "WHERE connection = ? ORDER BY ts DESC LIMIT 1 OFFSET ?)", (name, name, self.max_rows - 1))
        return len(rows)

    def samples(self, connection: str, *, since: float | None = None) -> list[Sample]:
        """Samples recorded for ``connection`` (oldest first), optionally only those after ``since``."""
        if not self.path.exists():
            return []
        with self._open(create=False) as conn:
            cursor = conn.execute(
                "SELECT connection, ts, fingerprint, duration_ms, row_count, error FROM query_samples "
                "WHERE connection = ? AND ts >= ? ORDER BY ts", (connection, since or 0.0))
            return [Sample(c, ts, fp, d, n, bool(e)) for c, ts, fp, d, n, e in cursor]

    def connections(self) -> list[str]:
        """Names of the connections that have samples."""
        if not self.path.exists():
            return []
        with self._open(create=False) as conn:
            return [name for (name,) in conn.execute("SELECT DISTINCT connection FROM query_samples ORDER BY 1")]
