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
import itertools
import logging
import operator
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.monitoring.store import MetricsStore

logger = logging.getLogger("dbkeeper.monitoring")

#: Environment variable that switches recording off when set to 0/off/false/no.
ENV_VAR = "DBKEEPER_MONITORING"
MAX_ENTRIES_ENV = "DBKEEPER_MONITORING_MAX_ENTRIES"
MAX_AGE_ENV = "DBKEEPER_MONITORING_MAX_AGE"
FLUSH_INTERVAL_ENV = "DBKEEPER_MONITORING_FLUSH_INTERVAL"

#: One recorded statement: (connection name, statement text, perf_counter at start, seconds, rows), rows -1 when
#: the statement failed (one field fewer to build on the hot path and to take apart at flush).
Entry = tuple[str, str, float, float, int]
#: What a connection calls on its hot path.
RecordFn = Callable[[Entry], None]
_NAME, _QUERY, _START, _SECONDS, _ROWS = map(operator.itemgetter, range(5))


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
        self._writer: MetricsStore | None = None

    @property
    def record(self) -> RecordFn:
        """The callable the hot path uses: appends one :data:`Entry`."""
        return self.buffer.append

    def wall_time(self, perf: float) -> float:
        """Convert a ``time.perf_counter()`` reading into a UNIX timestamp (as the store does: offset + reading)."""
        return (self._wall0 - self._perf0) + perf

    def _take(self) -> list[Entry]:
        """Remove and return exactly the entries present now (``popleft`` called from C, one per entry).

        Statements appended meanwhile by other threads stay for the next flush.
        """
        return list(itertools.islice(iter(self.buffer.popleft, None), len(self.buffer)))

    def drain(self) -> list[Entry]:
        """Remove and return every buffered entry no older than ``max_age`` (oldest first)."""
        cutoff = time.perf_counter() - self.max_age
        return [entry for entry in self._take() if entry[2] >= cutoff]

    def flush(self) -> int:
        """Write the buffered entries to the workspace store; return how many were written.

        This runs for every statement ever recorded, so it cuts the entries
        into columns with C-level builtins (``map``, ``itemgetter``,
        ``struct``) rather than a Python loop per entry, fingerprints each
        distinct statement text once, and hands the store one packed batch per
        connection (about 0.4 us a statement, where a stored row per statement
        cost 2.2-2.7 us). Entries older than ``max_age`` are dropped.
        """
        from dbkeeper.monitoring.fingerprint import fingerprint
        from dbkeeper.monitoring.store import SampleBatch

        with self._flush_lock:
            entries = self._take()
            if not entries:
                return 0
            now = time.perf_counter()  # every entry started before it: the batch's upper bound
            names = set(map(_NAME, entries))
            queries = list(map(_QUERY, entries))
            shapes: dict[str, int] = {}
            number = {query: shapes.setdefault(fingerprint(query), len(shapes)) for query in set(queries)}
            every = SampleBatch(next(iter(names)), self._wall0 - self._perf0, list(map(_START, entries)),
                                list(map(_SECONDS, entries)), list(map(_ROWS, entries)),
                                list(map(number.__getitem__, queries)), list(shapes), no_later_than=now)
            cutoff = now - self.max_age
            batches = [every]
            if len(names) > 1 or every.first < cutoff:  # several connections, or expired entries: pick
                chosen: dict[str, list[int]] = {}
                for i, (name, start) in enumerate(zip(map(_NAME, entries), every.start, strict=True)):
                    if start >= cutoff:
                        chosen.setdefault(name, []).append(i)
                batches = [replace(every.keep(picked), connection=name) for name, picked in chosen.items()]
            return self._store().append_batches(batches, now=time.time())

    def _store(self) -> MetricsStore:
        """The workspace's store, its connection kept open between flushes (reopened if the workspace moved)."""
        from dbkeeper.monitoring.store import STORE_FILE, MetricsStore
        from dbkeeper.workspace import resolve_workspace

        path = resolve_workspace(self.workspace_dir) / STORE_FILE
        if self._writer is None or self._writer.path != path:
            if self._writer is not None:
                self._writer.close()
            self._writer = MetricsStore(path, keep_open=True)
        return self._writer

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
        with self._flush_lock:
            if self._writer is not None:
                self._writer.close()

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
