"""The query recorder: a bounded in-memory buffer every statement is timed into.

Why it looks like this: the hot path (``DatabaseConnection._run``) must stay
close to the raw driver, so recording a statement is one ``deque.extend`` with
a tuple the connection already has the parts of -- no locks, no clock call
beyond the timer it already reads, no fingerprinting -- into the buffer of
the connection's name (:class:`ConnectionBuffer`). The buffer holds the
entries' fields back to back rather than the tuples themselves: a kept tuple
is a container the cyclic garbage collector tracks, and 100,000 of them
surviving made every generation-0 collection walk them (measured: more than
half of what recording cost a SQLite ``execute``). Strings, floats and ints
are not tracked, and the one-off tuple goes straight back to its free list.
Everything costly
(fingerprints, wall-clock timestamps, the SQLite write) happens when the
buffer is flushed: every ``flush_interval`` seconds by a daemon thread, when a
connection disconnects, and at interpreter exit.

Retention: each connection name's buffer keeps its newest ``max_entries``
statements (older ones are dropped, never blocking the caller); at flush,
entries older than ``max_age`` seconds are dropped and the store applies its
own limits.

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
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.monitoring.store import MetricsStore

logger = logging.getLogger("dbkeeper.monitoring")

#: Environment variable that switches recording off when set to 0/off/false/no.
ENV_VAR = "DBKEEPER_MONITORING"
MAX_ENTRIES_ENV = "DBKEEPER_MONITORING_MAX_ENTRIES"
MAX_AGE_ENV = "DBKEEPER_MONITORING_MAX_AGE"
FLUSH_INTERVAL_ENV = "DBKEEPER_MONITORING_FLUSH_INTERVAL"

#: One recorded statement as a connection hands it over: (statement text, seconds, rows), rows -1 when it
#: failed. The connection's name is its buffer's; its time is known to within the flush interval.
Entry = tuple[str, float, int]
#: An entry with its connection name, as :meth:`QueryRecorder.drain` returns it.
NamedEntry = tuple[str, str, float, int]
#: What a connection calls on its hot path.
RecordFn = Callable[[Entry], None]
#: How many buffer slots one entry takes.
FIELDS = 3


class _Retired(NamedTuple):
    """A buffer's swapped-out deque, waiting until nothing can append to it (see :meth:`QueryRecorder._take`)."""

    name: str
    fields: deque[Any]
    #: The ``record`` that appends to ``fields``.
    record: RecordFn
    #: The ``time.perf_counter()`` interval its statements finished in: from the flush before to the swap.
    since: float
    until: float


class RecordSink(Protocol):
    """What a connection records into: it calls ``sink.record(entry)`` for every statement.

    The attribute is read per statement, never kept, so a flush can swap it
    (see :meth:`QueryRecorder._take`).
    """

    record: RecordFn


class ConnectionBuffer:
    """The statements of one connection name waiting for a flush; its connections append to it.

    ``record`` is ``fields.extend``: the entries' fields back to back (see
    the module docstring) in a deque bounded to ``max_entries`` entries.
    The bound is a multiple of :data:`FIELDS` and ``extend`` adds a whole
    entry in one C call, so entries never come apart. One buffer per name
    rather than one per process: the name need not be stored per statement,
    a flush needs no pass to split connections, and a busy connection cannot
    push another's statements out.

    Statements carry no time of their own: keeping a start time per
    statement cost a fifth of what recording cost (a float kept alive, a
    column to cut, pack and scan for its minimum). ``since`` is when the
    buffer was last looked at by a flush; every statement in it finished
    between then and the next flush.
    """

    __slots__ = ("fields", "name", "record", "since")

    def __init__(self, name: str, max_entries: int) -> None:
        self.name = name
        self.fields: deque[Any] = deque(maxlen=max_entries * FIELDS)
        self.record: RecordFn = self.fields.extend
        self.since = time.perf_counter()

    def swap(self, now: float) -> _Retired:
        """Put a new, empty deque (and ``record``) in place; return the old one."""
        old = _Retired(self.name, self.fields, self.record, self.since, now)
        self.fields = deque(maxlen=self.fields.maxlen)
        self.record = self.fields.extend
        self.since = now
        return old


class QueryRecorder:
    """Bounded, thread-safe buffers of statement timings, one per connection name, flushed to the workspace store."""

    def __init__(self, *, max_entries: int = 100_000, max_age: float = 3600.0, flush_interval: float = 5.0,
                 workspace_dir: str | os.PathLike[str] | None = None) -> None:
        #: Statements kept per connection name between flushes (the oldest go first).
        self.max_entries = max_entries
        self.max_age = max_age
        self.flush_interval = flush_interval
        self.workspace_dir = workspace_dir
        self._buffers: dict[str, ConnectionBuffer] = {}
        self._buffers_lock = threading.Lock()
        #: Swapped-out deques some thread may still append to.
        self._retired: list[_Retired] = []
        self._stopping = False  # the last flush takes retired deques whoever still holds their ``record``
        # perf_counter -> wall clock, computed once so the hot path never reads the wall clock.
        self._wall0 = time.time()
        self._perf0 = time.perf_counter()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: MetricsStore | None = None

    def buffer_for(self, name: str) -> ConnectionBuffer:
        """The buffer the statements of connection ``name`` are recorded into (created on first use)."""
        buffer = self._buffers.get(name)
        if buffer is None:
            with self._buffers_lock:
                buffer = self._buffers.setdefault(name, ConnectionBuffer(name, self.max_entries))
        return buffer

    @property
    def pending(self) -> int:
        """How many statements are buffered, not yet flushed."""
        slots = sum(len(buffer.fields) for buffer in list(self._buffers.values()))
        return (slots + sum(len(retired.fields) for retired in self._retired)) // FIELDS

    def mark(self, name: str) -> float:
        """Flush, and return the UNIX time from which the next statements of connection ``name`` are recorded.

        Statements are timed to within a flush interval, so "what ran since
        ``t``" is exact only from a mark: every statement recorded after it
        has a sample time at or after the returned time.
        """
        buffer = self.buffer_for(name)
        self.flush()
        return self.wall_time(buffer.since)

    def wall_time(self, perf: float) -> float:
        """Convert a ``time.perf_counter()`` reading into a UNIX timestamp (as the store does: offset + reading)."""
        return (self._wall0 - self._perf0) + perf

    def _take(self) -> list[_Retired]:
        """Remove and return the statements recorded so far: per buffer and swap, oldest first (flush lock held).

        Popping a deque empty field by field cost 1.6 k CPU instructions a
        statement, a third of what recording cost, so each buffer swaps in a
        new deque and ``record`` instead, and the old deque is read whole
        once nothing can append to it any more. A thread that read ``record``
        just before the swap may still be about to call it, so the old deque
        is read only when nothing but this recorder holds that ``record``
        (its reference count says so; the check sleeps a few times for such
        a thread to finish), else it is kept for the next flush. Nothing is
        lost either way. Without a GIL, reference counts do not say that, and
        the deques are popped instead. Buffers no connection uses any more
        are dropped once empty.
        """
        now = time.perf_counter()
        popped: list[_Retired] = []
        for buffer in list(self._buffers.values()):
            if not _GIL:
                fields = buffer.fields
                taken = list(itertools.islice(iter(fields.popleft, None), len(fields)))
                popped.append(_Retired(buffer.name, deque(taken), buffer.record, buffer.since, now))
                buffer.since = now
            elif buffer.fields:
                self._retired.append(buffer.swap(now))
            elif _holders(buffer) <= _BUFFER_ALONE:  # empty, and no connection records into it: drop it
                with self._buffers_lock:
                    if self._buffers.get(buffer.name) is buffer and _holders(buffer) <= _BUFFER_ALONE:
                        del self._buffers[buffer.name]
            else:
                buffer.since = now  # nothing finished since the last look: the next statements finish after now
        ready: list[_Retired] = []
        kept: list[_Retired] = []
        for retired in self._retired:
            (ready if self._stopping or _released(retired) else kept).append(retired)
        self._retired = kept
        return [retired for retired in popped + ready if retired.fields]

    def drain(self) -> list[NamedEntry]:
        """Remove and return every buffered entry, with its connection name (per connection, oldest first)."""
        with self._flush_lock:
            taken = self._take()
        # one iterator taken FIELDS at a time: the fields regrouped into entries, in one pass without copies
        return [(retired.name, *entry) for retired in taken
                for entry in zip(*[iter(retired.fields)] * FIELDS, strict=True)]

    def flush(self) -> int:
        """Write the buffered entries to the workspace store; return how many were written.

        This runs for every statement ever recorded, so it works in C-level
        passes rather than a Python loop per entry: slices cut a buffer's
        fields into columns, one ``map`` numbers the statement texts by
        fingerprint (fingerprinting each distinct text once), ``struct``
        packs the columns, and the store gets one batch per buffer and swap,
        spread over the interval its statements finished in. Samples that
        fall more than ``max_age`` seconds back are dropped.
        """
        from dbkeeper.monitoring.store import SampleBatch

        with self._flush_lock:
            taken = self._take()
            if not taken:
                return 0
            cutoff = time.perf_counter() - self.max_age
            offset = self._wall0 - self._perf0
            batches = []
            for name, deque_fields, _, since, until in taken:
                fields = list(deque_fields)
                numbers = _ShapeNumbers()
                shape = list(map(numbers.__getitem__, fields[0::FIELDS]))
                batch = SampleBatch(name, offset, (), fields[1::FIELDS], fields[2::FIELDS], shape,
                                    list(numbers.shapes), span=(since, until))
                if since < cutoff:
                    batch = batch.keep([i for i, t in enumerate(batch.start_times) if t >= cutoff])
                batches.append(batch)
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
        self._stopping = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        self.flush_quietly()
        with self._flush_lock:
            if self._writer is not None:
                self._writer.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self.flush_quietly()


class _ShapeNumbers(dict[str, int]):
    """Statement text -> number of its fingerprint in :attr:`shapes`, filled on first sight.

    So numbering a batch is one ``map`` over its statement texts: a dict
    lookup each, and a fingerprint only for a text not seen before.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Distinct fingerprints, in the order of their numbers.
        self.shapes: dict[str, int] = {}

    def __missing__(self, query: str) -> int:
        from dbkeeper.monitoring.fingerprint import fingerprint

        number = self[query] = self.shapes.setdefault(fingerprint(query), len(self.shapes))
        return number


#: Whether reference counts are exact (CPython with its GIL), which :meth:`QueryRecorder._take` relies on.
_GIL = getattr(sys, "_is_gil_enabled", lambda: True)()


def _holders(thing: object) -> int:
    """``thing``'s reference count, as :meth:`QueryRecorder._take` and :func:`_released` read it."""
    return sys.getrefcount(thing)


def _measure_alone() -> tuple[int, int]:
    """What :func:`_holders` says of a retired ``record`` and of a buffer that only the recorder holds.

    Measured through the same calls from the same kind of loop as the real
    checks make them, so nothing is assumed about how the interpreter counts.
    """
    fields: deque[Any] = deque()
    for retired in [_Retired("probe", fields, fields.extend, 0.0, 0.0)]:
        record_alone = _holders(retired.record)
    buffers = {"probe": ConnectionBuffer("probe", 1)}
    for buffer in list(buffers.values()):
        buffer_alone = _holders(buffer)
    return record_alone, buffer_alone


#: :func:`_holders` of a retired ``record`` nothing else holds, and of a buffer no connection holds.
_RECORD_ALONE, _BUFFER_ALONE = _measure_alone()


def _released(retired: _Retired, *, tries: int = 50) -> bool:
    """True once no thread holds the retired buffer's ``record`` any more, so none can append to it.

    A holder is a thread between reading ``record`` and returning from it
    (a few bytecodes); each failed check sleeps 0.1 ms, which lets it run.
    """
    for _ in range(tries):
        if _holders(retired.record) <= _RECORD_ALONE:
            return True
        time.sleep(0.0001)
    return False


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
    if not enabled():
        return None
    recorder = get_recorder()
    url = getattr(connection, "url", None)
    if isinstance(name, str) and url is not None:  # so monitor_database(name) can find it again (no password)
        from dbkeeper.monitoring.known_databases import remember

        remember(recorder.workspace_dir, name, url)
    return recorder


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
    connection._sink = recorder.buffer_for(connection.name) if recorder is not None else None


_quiet = threading.local()
_guard = threading.Lock()


class _Filtered:
    """A connection's sink that skips statements of threads inside :func:`unrecorded`."""

    __slots__ = ("original", "users")

    def __init__(self, original: RecordSink) -> None:
        self.original = original
        self.users = 0

    def record(self, entry: Entry) -> None:
        if not getattr(_quiet, "on", False):
            self.original.record(entry)


@contextmanager
def unrecorded(connection: Any) -> Iterator[None]:
    """Do not record the statements this thread runs on ``connection`` inside the block.

    The monitor's own statistics queries, catalog reads and EXPLAINs are not
    the application's workload and would crowd its report. Other threads
    using the same connection meanwhile are still recorded.
    """
    with _guard:
        current = getattr(connection, "_sink", None)
        wrapper: _Filtered | None = None
        if current is not None:
            wrapper = current if isinstance(current, _Filtered) else _Filtered(current)
            wrapper.users += 1
            connection._sink = wrapper
    previous = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = previous
        if wrapper is not None:
            with _guard:
                wrapper.users -= 1
                if wrapper.users == 0 and connection._sink is wrapper:
                    connection._sink = wrapper.original
