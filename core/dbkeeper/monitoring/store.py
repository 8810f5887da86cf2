"""The workspace metrics store: one SQLite file (mode 0600) other processes can read.

The recorder appends query samples here when it flushes; the analyser and
``dbkeeper monitor report`` read them back, from any process that shares the
workspace. WAL mode lets a reader and a writer work at once.

Samples are stored in *batches*, one row per connection per flush, each
column packed as a little-endian array (start times -- or none, when the
samples are spread over the batch's time span --, durations, row counts
with -1 for a failed statement, fingerprint numbers into the batch's list
of distinct fingerprints). Why: a flush writes every statement the application ran, so
its cost is part of what recording costs; a row per statement (even in
multi-row INSERTs, with an index) cost 2.2-2.7 us a statement here, a
quarter of a fast SQLite query, while packing columns costs about 0.1 us.
Every duration is kept exactly (percentiles); a recorded statement's time
is known to within its flush interval (latency over time, rates).

Retention is applied on every write: samples older than ``max_age``
seconds go, and each connection keeps at most ``max_rows`` samples (the
oldest batches go first; the batch on the boundary is trimmed to its newest
samples). Both limits come from ``$DBKEEPER_MONITORING_STORE_MAX_AGE``
(seconds, default 7 days) and ``$DBKEEPER_MONITORING_STORE_MAX_ROWS``
(default 200,000) unless given.

Native-statistics snapshots (the counters of ``Dialect.collect_metrics``)
are kept too, a few per connection, so the next snapshot -- from this process
or another -- can turn cumulative counters into rates.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dbkeeper.monitoring.errors import MonitoringError

#: File name of the store inside the workspace.
STORE_FILE = "monitoring.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sample_batches (
    connection TEXT NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    n INTEGER NOT NULL,
    fingerprints TEXT NOT NULL,
    ts_offset REAL NOT NULL,
    start BLOB NOT NULL,
    seconds BLOB NOT NULL,
    row_count BLOB NOT NULL,
    shape BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sample_batches_conn_first ON sample_batches (connection, first_ts);
CREATE INDEX IF NOT EXISTS sample_batches_first ON sample_batches (first_ts);
CREATE INDEX IF NOT EXISTS sample_batches_last ON sample_batches (last_ts);
CREATE TABLE IF NOT EXISTS native_snapshots (
    connection TEXT NOT NULL,
    ts REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS native_snapshots_conn_ts ON native_snapshots (connection, ts);
CREATE TABLE IF NOT EXISTS server_readings (
    connection TEXT NOT NULL,
    ts REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS server_readings_conn_ts ON server_readings (connection, ts);
CREATE TABLE IF NOT EXISTS server_windows (
    connection TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS server_windows_conn_end ON server_windows (connection, end_ts);
"""
#: Environment variables overriding the store's retention.
MAX_AGE_ENV = "DBKEEPER_MONITORING_STORE_MAX_AGE"
MAX_ROWS_ENV = "DBKEEPER_MONITORING_STORE_MAX_ROWS"
#: Native snapshots kept per connection (only the newest is needed for rates; a few help debugging).
SNAPSHOTS_KEPT = 10


def _pack(code: str, values: Sequence[Any]) -> bytes:
    """Little-endian packed values (``struct``: about 20 ns a value, a third of ``array``'s per-item parsing)."""
    return struct.pack(f"<{len(values)}{code}", *values)


def _unpack(code: str, blob: bytes) -> tuple[Any, ...]:
    return struct.unpack(f"<{len(blob) // struct.calcsize(code)}{code}", blob)


@dataclass(frozen=True)
class SampleBatch:
    """Samples of one connection in columns: what a flush writes as one row.

    Stored as the recorder has them, so a flush does no arithmetic per
    sample: ``seconds`` is the duration; ``row_count`` is -1 for a
    statement that failed; ``shape[i]`` numbers the fingerprint of sample
    ``i`` in ``fingerprints``. Times are on a clock of the writer's
    (``time.perf_counter()``) that ``offset`` turns into UNIX time: either
    one ``start`` per sample, or, with ``start`` empty, only the ``span``
    the samples ran in -- the recorder's case, which knows a statement's
    time to within its flush interval and spreads the samples evenly over
    the span, in the order they finished (see ``docs/monitoring.md``).
    """

    connection: str
    offset: float
    start: Sequence[float]
    seconds: Sequence[float]
    row_count: Sequence[int]
    shape: Sequence[int]
    fingerprints: Sequence[str]
    #: (earliest, latest) time of the samples, when ``start`` is empty.
    span: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self.seconds)

    @cached_property
    def start_times(self) -> Sequence[float]:
        """Each sample's time: ``start``, or the span's evenly spread points."""
        if self.start or self.span is None:
            return self.start
        first, last = self.span
        step = (last - first) / len(self)
        return [first + step * (i + 0.5) for i in range(len(self))]

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """No sample is earlier than the first or later than the second (the span, else ``start``'s range)."""
        if not self.start and self.span is not None:
            return self.span
        return min(self.start), max(self.start)

    def row(self) -> tuple[Any, ...]:
        """The ``sample_batches`` row (an empty ``start`` blob: spread over ``first_ts``..``last_ts``)."""
        first, last = self.bounds
        return (self.connection, self.offset + first, self.offset + last, len(self),
                json.dumps(list(self.fingerprints)), self.offset, _pack("d", self.start), _pack("d", self.seconds),
                _pack("q", self.row_count), _pack("I", self.shape))

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SampleBatch:
        connection, first_ts, last_ts, fingerprints, offset, start, seconds, rows, shape = row
        return cls(connection, offset, _unpack("d", start), _unpack("d", seconds), _unpack("q", rows),
                   _unpack("I", shape), json.loads(fingerprints), span=(first_ts - offset, last_ts - offset))

    def timestamps(self) -> list[float]:
        return [self.offset + t for t in self.start_times]

    def samples(self) -> list[Sample]:
        names = self.fingerprints
        return [Sample(self.connection, t, names[k], d * 1000.0, max(n, 0), n < 0)
                for t, d, n, k in zip(self.timestamps(), self.seconds, self.row_count, self.shape, strict=True)]

    def keep(self, wanted: Sequence[int]) -> SampleBatch:
        """The batch with only the samples at positions ``wanted`` (each with its own time from now on)."""
        times = self.start_times
        return SampleBatch(self.connection, self.offset, [times[i] for i in wanted],
                           [self.seconds[i] for i in wanted], [self.row_count[i] for i in wanted],
                           [self.shape[i] for i in wanted], self.fingerprints)


_INSERT = ("INSERT INTO sample_batches (connection, first_ts, last_ts, n, fingerprints, ts_offset, start, seconds, "
           "row_count, shape) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_BATCH_COLUMNS = "connection, first_ts, last_ts, fingerprints, ts_offset, start, seconds, row_count, shape"


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
    """Read and write query samples in ``path`` (created 0600 on first write).

    Each operation opens and closes its own SQLite connection, except with
    ``keep_open`` (the recorder's writer): one connection is kept between
    operations and reopened when the file was replaced or removed. Closing
    the last connection to a WAL database checkpoints it, which cost as much
    as the write itself on every flush; a kept connection checkpoints once
    per 1,000 WAL pages instead. :meth:`close` releases it.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_age: float | None = None,
                 max_rows: int | None = None, keep_open: bool = False) -> None:
        self.path = Path(path)
        self._max_age = max_age
        self._max_rows = max_rows
        self.max_age  # noqa: B018 -- a bad environment value is an error now, not at the first write
        self.max_rows  # noqa: B018
        self.keep_open = keep_open
        self._kept: sqlite3.Connection | None = None
        self._kept_file: tuple[int, int] | None = None

    @property
    def max_age(self) -> float:
        """Seconds a sample is kept: as given, else ``$DBKEEPER_MONITORING_STORE_MAX_AGE`` (read now), else 7 days."""
        return self._max_age if self._max_age is not None else env_number(MAX_AGE_ENV, 7 * 86400.0)

    @property
    def max_rows(self) -> int:
        """Samples kept per connection: as given, else ``$DBKEEPER_MONITORING_STORE_MAX_ROWS``, else 200,000."""
        return self._max_rows if self._max_rows is not None else int(env_number(MAX_ROWS_ENV, 200_000))

    @classmethod
    def in_workspace(cls, workspace_dir: str | os.PathLike[str] | None = None, *,
                     keep_open: bool = False) -> MetricsStore:
        """The store of ``workspace_dir`` (see :func:`dbkeeper.workspace.resolve_workspace`)."""
        from dbkeeper.workspace import resolve_workspace

        return cls(resolve_workspace(workspace_dir) / STORE_FILE, keep_open=keep_open)

    def close(self) -> None:
        """Close the kept connection, if any (the next operation opens a new one)."""
        conn, self._kept, self._kept_file = self._kept, None, None
        if conn is not None:
            conn.close()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if self._kept is not None:
            if self._file_identity() == self._kept_file:
                return self._kept
            self.close()  # the file was removed or replaced: write to the one at ``path`` now
        if create and not self.path.exists():
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise MonitoringError(f"cannot create the metrics store {self.path}: {exc}") from None
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=not self.keep_open)
        except sqlite3.Error as exc:
            raise MonitoringError(f"cannot open the metrics store {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # metrics may lose the last flush on power loss, never get corrupted: WAL's NORMAL is enough
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise MonitoringError(f"metrics store {self.path} failed: {exc}; delete the file to start afresh") \
                from None
        if self.keep_open:
            self._kept, self._kept_file = conn, self._file_identity()
        return conn

    @contextmanager
    def _open(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        conn = self._connect(create=create)
        try:
            yield conn
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            if conn is self._kept:
                self.close()
            raise MonitoringError(f"metrics store {self.path} failed: {exc}; delete the file to start afresh") \
                from None
        finally:
            if conn is not self._kept:
                conn.close()
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.chmod(0o600)

    def append(self, samples: Iterable[Sample], *, now: float) -> int:
        """Store ``samples`` and apply retention; return how many were written."""
        by_connection: dict[str, list[Sample]] = {}
        for sample in samples:
            by_connection.setdefault(sample.connection, []).append(sample)
        batches = []
        for name, group in by_connection.items():
            shapes: dict[str, int] = {}
            ids = [shapes.setdefault(s.fingerprint, len(shapes)) for s in group]
            batches.append(SampleBatch(name, 0.0, [s.ts for s in group], [s.duration_ms / 1000.0 for s in group],
                                       [-1 if s.error else s.row_count for s in group], ids, list(shapes)))
        return self.append_batches(batches, now=now)

    def append_batches(self, batches: Sequence[SampleBatch], *, now: float) -> int:
        """Store each batch as one row, then apply retention (the recorder's flush path)."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return 0
        with self._open(create=True) as conn:
            conn.executemany(_INSERT, [b.row() for b in batches])
            self._retain(conn, now, {b.connection for b in batches})
        return sum(len(b) for b in batches)

    def _retain(self, conn: sqlite3.Connection, now: float, written: set[str]) -> None:
        """Drop samples older than ``max_age`` (all connections) and beyond ``max_rows`` (those just written)."""
        cutoff = now - self.max_age
        conn.execute("DELETE FROM sample_batches WHERE last_ts < ?", (cutoff,))
        for rowid, *row in conn.execute(f"SELECT rowid, {_BATCH_COLUMNS} FROM sample_batches WHERE first_ts < ?",
                                        (cutoff,)).fetchall():
            batch = SampleBatch.from_row(row)
            self._replace(conn, rowid, batch.keep([i for i, t in enumerate(batch.timestamps()) if t >= cutoff]))
        for name in written:
            excess = conn.execute("SELECT SUM(n) FROM sample_batches WHERE connection = ?",
                                  (name,)).fetchone()[0] - self.max_rows
            if excess <= 0:
                continue
            for rowid, n in conn.execute("SELECT rowid, n FROM sample_batches WHERE connection = ? "
                                         "ORDER BY first_ts, rowid", (name,)).fetchall():
                if n <= excess:
                    conn.execute("DELETE FROM sample_batches WHERE rowid = ?", (rowid,))
                    excess -= n
                    if excess:
                        continue
                else:  # the boundary batch: keep its newest n - excess samples
                    row = conn.execute(f"SELECT {_BATCH_COLUMNS} FROM sample_batches WHERE rowid = ?",
                                       (rowid,)).fetchone()
                    batch = SampleBatch.from_row(row)
                    newest = sorted(range(n), key=batch.start_times.__getitem__)[excess:]
                    self._replace(conn, rowid, batch.keep(sorted(newest)))
                break

    @staticmethod
    def _replace(conn: sqlite3.Connection, rowid: int, batch: SampleBatch) -> None:
        conn.execute("DELETE FROM sample_batches WHERE rowid = ?", (rowid,))
        if len(batch):
            conn.execute(_INSERT, batch.row())

    def samples(self, connection: str, *, since: float | None = None) -> list[Sample]:
        """Samples recorded for ``connection`` (oldest first), optionally only those after ``since``."""
        if not self.path.exists():
            return []
        since = since or 0.0
        with self._open(create=False) as conn:
            rows = conn.execute(f"SELECT {_BATCH_COLUMNS} FROM sample_batches WHERE connection = ? AND last_ts >= ? "
                                "ORDER BY first_ts, rowid", (connection, since)).fetchall()
        out = [s for row in rows for s in SampleBatch.from_row(row).samples() if s.ts >= since]
        out.sort(key=lambda s: s.ts)
        return out

    def connections(self) -> list[str]:
        """Names of the connections that have samples."""
        if not self.path.exists():
            return []
        with self._open(create=False) as conn:
            return [name for (name,) in conn.execute("SELECT DISTINCT connection FROM sample_batches ORDER BY 1")]

    def count(self, connection: str | None = None) -> int:
        """How many samples the store holds (for ``connection``, or in all)."""
        if not self.path.exists():
            return 0
        with self._open(create=False) as conn:
            if connection is None:
                row = conn.execute("SELECT TOTAL(n) FROM sample_batches").fetchone()
            else:
                row = conn.execute("SELECT TOTAL(n) FROM sample_batches WHERE connection = ?", (connection,)).fetchone()
            return int(row[0])

    def save_snapshot(self, connection: str, ts: float, data: dict[str, Any]) -> None:
        """Keep one native-statistics snapshot (JSON) and drop all but the newest :data:`SNAPSHOTS_KEPT`."""
        with self._open(create=True) as conn:
            conn.execute("INSERT INTO native_snapshots VALUES (?, ?, ?)",
                         (connection, ts, json.dumps(data, default=str)))
            conn.execute(
                "DELETE FROM native_snapshots WHERE connection = ? AND ts < (SELECT ts FROM native_snapshots "
                "WHERE connection = ? ORDER BY ts DESC LIMIT 1 OFFSET ?)", (connection, connection, SNAPSHOTS_KEPT - 1))

    def save_server_reading(self, connection: str, reading: dict[str, Any],
                            window: dict[str, Any] | None) -> None:
        """Keep the newest server reading (the next window's start) and append ``window`` to the history.

        Only the last :data:`SNAPSHOTS_KEPT` readings stay (a reading holds every
        statement's counters); windows (rates and the top statements) follow
        the store's ``max_age`` retention.
        """
        with self._open(create=True) as conn:
            conn.execute("INSERT INTO server_readings VALUES (?, ?, ?)",
                         (connection, float(reading["ts"]), json.dumps(reading, default=str)))
            conn.execute(
                "DELETE FROM server_readings WHERE connection = ? AND ts < (SELECT ts FROM server_readings "
                "WHERE connection = ? ORDER BY ts DESC LIMIT 1 OFFSET ?)", (connection, connection, SNAPSHOTS_KEPT - 1))
            if window is not None:
                conn.execute("INSERT INTO server_windows VALUES (?, ?, ?, ?)",
                             (connection, float(window["start"]), float(window["end"]),
                              json.dumps(window, default=str)))
                conn.execute("DELETE FROM server_windows WHERE end_ts < ?", (float(reading["ts"]) - self.max_age,))

    def last_server_reading(self, connection: str) -> dict[str, Any] | None:
        """The newest server reading of ``connection``, or ``None``."""
        if not self.path.exists():
            return None
        with self._open(create=False) as conn:
            row = conn.execute("SELECT data FROM server_readings WHERE connection = ? ORDER BY ts DESC LIMIT 1",
                               (connection,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data

    def server_windows(self, connection: str, *, since: float | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        """The stored windows of ``connection`` (oldest first), those ending after ``since``; the newest ``limit``."""
        if not self.path.exists():
            return []
        with self._open(create=False) as conn:
            rows = conn.execute(
                "SELECT data FROM (SELECT data, end_ts FROM server_windows WHERE connection = ? AND end_ts > ? "
                "ORDER BY end_ts DESC LIMIT ?) ORDER BY end_ts",
                (connection, -1.0 if since is None else since, -1 if limit is None else limit)).fetchall()
        return [json.loads(row[0]) for row in rows]

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
