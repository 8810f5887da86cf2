"""The query recorder: a bounded in-memory buffer every statement is timed into.

Why it looks like this: the hot path (``DatabaseConnection._run``) must stay
close to the raw driver, so recording a statement is one ``deque.append`` of a
tuple the connection already has the parts of -- no locks, no clock call
beyond the timer it already reads, no fingerprinting. Everything costly
(fingerprints, wall-clock timestamps, the SQLite write) happens when the
buffer is flushed: every ``flush_interval`` seconds by a daemon thread, when a
connection disconnects, and at interpreter exit.

Retention: the buffer keeps the newest ``max_entries`` statements (older ones
are dropped, never blocking the caller); at flush, entries older than
``max_age`` seconds are dropped and the store applies its own limits.

``DBKEEPER_MONITORING=0`` (or ``off``/``false``/``no``) switches recording off
for the process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dbkeeper.errors import DbKeeperError

logger = logging.getLogger("dbkeeper.monitoring")

#: Environment variable that switches recording off when set to 0/off/false/no.
ENV_VAR = "DBKEEPER_MONITORING"

#: One recorded statement: (connection name, statement text, perf_counter at start, seconds, rows, failed).
Entry = tuple[str, str, float, float, int, bool]
#: What a connection calls on its hot path.
RecordFn = Callable[[Entry], None]


class QueryRecorder:
    """A bounded, thread-safe buffer of statement timings, flushed to the workspace store."""

    def __init__(self, *, max_entries: int = 100_000, max_age: float = 3600.0, flush_interval: float = 5.0,
                 workspace_dir: str | os.PathLike[str] | None = None) -> None:
        self.buffer: deque[Entry] = deque(maxlen=max_entries)
        self.max_age = max_age
        self.flush_interval = flush_interval
        self.workspace_dir = workspace_dir
        # perf_counter -> wall clock, computed once so the hot path never reads the wall clock.
        self._wall0 = time.time()
        self._perf0 = time.perf_counter()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def record(self) -> RecordFn:
        """The callable the hot path uses: appends one :data:`Entry`."""
        return self.buffer.append

    def wall_time(self, perf: float) -> float:
        """Convert a ``time.perf_counter()`` reading into a UNIX timestamp."""
        return self._wall0 + (perf - self._perf0)

    def drain(self) -> list[Entry]:
        """Remove and return every buffered entry no older than ``max_age`` (oldest first)."""
        out: list[Entry] = []
        popleft = self.buffer.popleft
        cutoff = time.perf_counter() - self.max_age
        while True:
            try:
                entry = popleft()
            except IndexError:
                break
            if entry[2] >= cutoff:
                out.append(entry)
        return out

    def flush(self) -> int:
        """Write the buffered entries to the workspace store; return how many were written."""
        from dbkeeper.monitoring.fingerprint import fingerprint
        from dbkeeper.monitoring.store import MetricsStore, Sample

        with self._flush_lock:
            entries = self.drain()
            if not entries:
                return 0
            samples = [Sample(name, self.wall_time(start), fingerprint(query), seconds * 1000.0, rows, failed)
                       for name, query, start, seconds, rows, failed in entries]
            return MetricsStore.in_workspace(self.workspace_dir).append(samples, now=time.time())

    def flush_quietly(self) -> None:
        """Flush, logging instead of raising: used where a failure must not break the caller."""
        try:
            self.flush()
        except (DbKeeperError, OSError) as exc:
            logger.warning("could not flush query metrics: %s", exc)

    def start(self) -> None:
        """Start the periodic flusher thread (idempotent)."""
        if self._thread is None and self.flush_interval > 0:
            self._thread = threading.Thread(target=self._loop, name="dbkeeper-metrics-flush", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the flusher thread and flush what is left."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        self.flush_quietly()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            if self.buffer:
                self.flush_quietly()


_recorder: QueryRecorder | None = None
_lock = threading.Lock()


def enabled() -> bool:
    """False when ``$DBKEEPER_MONITORING`` switches recording off."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "off", "false", "no")


def get_recorder() -> QueryRecorder:
    """The process-wide recorder, created (and its flusher started) on first use."""
    global _recorder
    if _recorder is None:
        with _lock:
            if _recorder is None:
                recorder = QueryRecorder()
                recorder.start()
                atexit.register(recorder.stop)
                _recorder = recorder
    return _recorder


def recorder_for(connection: Any) -> QueryRecorder | None:
    """The recorder a connection should use when it connects, or ``None`` when recording is off."""
    return get_recorder() if enabled() else None
