"""The workspace metrics store: one SQLite file (mode 0600) other processes can read.

The recorder appends query samples here when it flushes; the analyser and
``dbkeeper monitor report`` read them back, from any process that shares the
workspace. WAL mode lets a reader and a writer work at once. Retention is
applied on every write: samples older than ``max_age`` seconds go, and each
connection keeps at most ``max_rows`` samples (newest first). Both limits
come from ``$DBKEEPER_MONITORING_STORE_MAX_AGE`` (seconds, default 7 days)
and ``$DBKEEPER_MONITORING_STORE_MAX_ROWS`` (default 200,000) unless given.

Native-statistics snapshots (the counters of ``dbkeeper_collect_metrics``)
are kept too, a few per connection, so the next snapshot -- from this process
or another -- can turn cumulative counters into rates.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
CREATE TABLE IF NOT EXISTS sample_connections (connection TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS native_snapshots (
    connection TEXT NOT NULL,
    ts REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS native_snapshots_conn_ts ON native_snapshots (connection, ts);
"""
#: Environment variables overriding the store's retention.
MAX_AGE_ENV = "DBKEEPER_MONITORING_STORE_MAX_AGE"
MAX_ROWS_ENV = "DBKEEPER_MONITORING_STORE_MAX_ROWS"
#: Native snapshots kept per connection (only the newest is needed for rates; a few help debugging).
SNAPSHOTS_KEPT = 10
#: Samples per multi-row INSERT when the recorder flushes (6 values each: 792 bound values).
INSERT_BATCH = 132


def _insert(rows: int) -> str:
    return "INSERT INTO query_samples VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)


_INSERT_MANY = _insert(INSERT_BATCH)


def env_number(name: str, default: float) -> float:
    """``$name`` as a positive number, ``default`` when unset; a bad value is a typed error naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MonitoringError(f"${name}={raw!r} is not a number") from None
    if value <= 0:
        raise MonitoringError(f"${name}={raw!r} must be greater than zero")
    return value


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

    def __init__(self, path: str | os.PathLike[str], *, max_age: float | None = None,
                 max_rows: int | None = None) -> None:
        self.path = Path(path)
        self.max_age = max_age if max_age is not None else env_number(MAX_AGE_ENV, 7 * 86400.0)
        self.max_rows = max_rows if max_rows is not None else int(env_number(MAX_ROWS_ENV, 200_000))

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
            # metrics may lose the last flush on power loss, never get corrupted: WAL's NORMAL is enough
            conn.execute("PRAGMA synchronous=NORMAL")
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
        return self.append_rows([(s.connection, s.ts, s.fingerprint, s.duration_ms, s.row_count, int(s.error))
                                 for s in samples], now=now)

    def append_rows(self, rows: list[tuple[str, float, str, float, int, int]], *, now: float) -> int:
        """Store rows in column order (connection, ts, fingerprint, duration_ms, row_count, error); apply retention.

        The recorder's flush path: no per-row objects.
        """
        with self._open(create=True) as conn:
            # Multi-row INSERTs of INSERT_BATCH rows: SQLite's per-statement work once per batch, not per row
            # (executemany cost 2.35 us a row here, a third of a fast SQLite statement being recorded).
            full = len(rows) - len(rows) % INSERT_BATCH
            if full:
                conn.executemany(_INSERT_MANY, (tuple(itertools.chain.from_iterable(rows[i:i + INSERT_BATCH]))
                                                for i in range(0, full, INSERT_BATCH)))
            if full < len(rows):
                rest = rows[full:]
                conn.execute(_insert(len(rest)), tuple(itertools.chain.from_iterable(rest)))
            names = {r[0] for r in rows}
            conn.executemany("INSERT OR IGNORE INTO sample_connections VALUES (?)", [(n,) for n in names])
            # Retention through the (connection, ts) index: a bare ``ts <`` would scan the whole store each flush.
            known = [name for (name,) in conn.execute("SELECT connection FROM sample_connections")]
            conn.executemany("DELETE FROM query_samples WHERE connection = ? AND ts < ?",
                             [(name, now - self.max_age) for name in known])
            for name in names:
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

    def count(self, connection: str | None = None) -> int:
        """How many samples the store holds (for ``connection``, or in all)."""
        if not self.path.exists():
            return 0
        with self._open(create=False) as conn:
            if connection is None:
                row = conn.execute("SELECT COUNT(*) FROM query_samples").fetchone()
            else:
                row = conn.execute("SELECT COUNT(*) FROM query_samples WHERE connection = ?", (connection,)).fetchone()
            return int(row[0])

    def save_snapshot(self, connection: str, ts: float, data: dict[str, Any]) -> None:
        """Keep one native-statistics snapshot (JSON) and drop all but the newest :data:`SNAPSHOTS_KEPT`."""
        with self._open(create=True) as conn:
            conn.execute("INSERT INTO native_snapshots VALUES (?, ?, ?)",
                         (connection, ts, json.dumps(data, default=str)))
            conn.execute(
                "DELETE FROM native_snapshots WHERE connection = ? AND ts < (SELECT ts FROM native_snapshots "
                "WHERE connection = ? ORDER BY ts DESC LIMIT 1 OFFSET ?)", (connection, connection, SNAPSHOTS_KEPT - 1))

    def last_snapshot(self, connection: str) -> tuple[float, dict[str, Any]] | None:
        """The newest snapshot of ``connection`` as ``(ts, data)``, or ``None``."""
        if not self.path.exists():
            return None
        with self._open(create=False) as conn:
            row = conn.execute("SELECT ts, data FROM native_snapshots WHERE connection = ? ORDER BY ts DESC LIMIT 1",
                               (connection,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[1])
        return float(row[0]), data
