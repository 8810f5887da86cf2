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
for the process. The process recorder's limits come from
``DBKEEPER_MONITORING_MAX_ENTRIES`` (default 100,000),
``DBKEEPER_MONITORING_MAX_AGE`` (seconds, default 3600) and
``DBKEEPER_MONITORING_FLUSH_INTERVAL`` (seconds, default 5), read when it is
created; :func:`configure` replaces it from code.

The recorder also remembers, weakly, each connected connection by name, so
``monitor_database(name)`` in the same process can read that database's
native statistics without being handed the connection.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dbkeeper.errors import DbKeeperError

logger = logging.getLogger("dbkeeper.monitoring")

#: Environment variable that switches recording off when set to 0/off/false/no.
ENV_VAR = "DBKEEPER_MONITORING"
MAX_ENTRIES_ENV = "DBKEEPER_MONITORING_MAX_ENTRIES"
MAX_AGE_ENV = "DBKEEPER_MONITORING_MAX_AGE"
FLUSH_INTERVAL_ENV = "DBKEEPER_MONITORING_FLUSH_INTERVAL"

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
        """Remove and return every buffered entry no older than ``max_age`` (oldest first).

        Takes exactly the entries present when it starts, one ``popleft`` each,
        so statements appended meanwhile by other threads stay for the next flush.
        """
        popleft = self.buffer.popleft
        out = [popleft() for _ in range(len(self.buffer))]
        cutoff = time.perf_counter() - self.max_age
        return [entry for entry in out if entry[2] >= cutoff]

    def flush(self) -> int:
        """Write the buffered entries to the workspace store; return how many were written.

        This runs for every statement ever recorded, so it builds the store's
        rows directly (no per-row objects) and fingerprints each distinct
        statement text once.
        """
        from dbkeeper.monitoring.fingerprint import fingerprint
        from dbkeeper.monitoring.store import MetricsStore

        with self._flush_lock:
            entries = self.drain()
            if not entries:
                return 0
            shapes = {query: fingerprint(query) for query in {entry[1] for entry in entries}}
            offset = self._wall0 - self._perf0
            rows = [(name, offset + start, shapes[query], seconds * 1000.0, count, 1 if failed else 0)
                    for name, query, start, seconds, count, failed in entries]
            return MetricsStore.in_workspace(self.workspace_dir).append_rows(rows, now=time.time())

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
_live: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def enabled() -> bool:
    """False when ``$DBKEEPER_MONITORING`` switches recording off."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "off", "false", "no")


def get_recorder() -> QueryRecorder:
    """The process-wide recorder, created (and its flusher started) on first use."""
    global _recorder
    if _recorder is None:
        with _lock:
            if _recorder is None:
                from dbkeeper.monitoring.store import env_number

                recorder = QueryRecorder(max_entries=int(env_number(MAX_ENTRIES_ENV, 100_000)),
                                         max_age=env_number(MAX_AGE_ENV, 3600.0),
                                         flush_interval=env_number(FLUSH_INTERVAL_ENV, 5.0))
                recorder.start()
                atexit.register(recorder.stop)
                _recorder = recorder
    return _recorder


def configure(*, max_entries: int = 100_000, max_age: float = 3600.0, flush_interval: float = 5.0,
              workspace_dir: str | os.PathLike[str] | None = None) -> QueryRecorder:
    """Replace the process recorder (flushing the old one) with one using these limits.

    Connections already connected keep appending to the old buffer until they
    reconnect; call this before connecting.
    """
    global _recorder
    with _lock:
        old, _recorder = _recorder, None
        if old is not None:
            old.stop()
            atexit.unregister(old.stop)
        recorder = QueryRecorder(max_entries=max_entries, max_age=max_age, flush_interval=flush_interval,
                                 workspace_dir=workspace_dir)
        recorder.start()
        atexit.register(recorder.stop)
        _recorder = recorder
    return recorder


def recorder_for(connection: Any) -> QueryRecorder | None:
    """The recorder a connection should use when it connects, or ``None`` when recording is off."""
    name = getattr(connection, "name", None)
    if isinstance(name, str):
        _live[name] = connection
    return get_recorder() if enabled() else None


def live_connection(name: str) -> Any:
    """The connected connection of this process called ``name`` (the newest one to connect), or ``None``."""
    connection = _live.get(name)
    return connection if connection is not None and getattr(connection, "is_connected", False) else None


def attach(connection: Any, recorder: QueryRecorder | None) -> None:
    """Record a connected ``connection``'s statements into ``recorder`` (``None``: stop recording them).

    For a workload that should land in a workspace of its own (the demo, a
    benchmark) rather than the process recorder's. The connection goes back
    to the process recorder when it reconnects.
    """
    if not getattr(connection, "is_connected", False):
        from dbkeeper.errors import ClosedError

        raise ClosedError(f"connect {getattr(connection, 'name', 'the connection')!r} before attaching a recorder")
    connection._recorder = recorder
    connection._record = recorder.record if recorder is not None else None


_quiet = threading.local()
_guard = threading.Lock()


class _Filtered:
    """A connection's record function that skips statements of threads inside :func:`unrecorded`."""

    __slots__ = ("original", "users")

    def __init__(self, original: RecordFn) -> None:
        self.original = original
        self.users = 0

    def __call__(self, entry: Entry) -> None:
        if not getattr(_quiet, "on", False):
            self.original(entry)


@contextmanager
def unrecorded(connection: Any) -> Iterator[None]:
    """Do not record the statements this thread runs on ``connection`` inside the block.

    The monitor's own statistics queries, catalog reads and EXPLAINs are not
    the application's workload and would crowd its report. Other threads
    using the same connection meanwhile are still recorded.
    """
    with _guard:
        current = getattr(connection, "_record", None)
        wrapper: _Filtered | None = None
        if current is not None:
            wrapper = current if isinstance(current, _Filtered) else _Filtered(current)
            wrapper.users += 1
            connection._record = wrapper
    previous = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = previous
        if wrapper is not None:
            with _guard:
                wrapper.users -= 1
                if wrapper.users == 0 and connection._record is wrapper:
                    connection._record = wrapper.original
