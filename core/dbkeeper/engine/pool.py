"""A small, fast pool of raw DBAPI connections.

Why not SQLAlchemy's ``QueuePool``: on the query hot path its checkout and
return cost 15-45 µs here (event dispatch, weakref bookkeeping, the fairy
proxy), which alone is 2.5x a one-row SQLite query and would break the
hot-path targets in ``docs/performance.md``. This pool does the same job with
one lock and a LIFO list: size, overflow, checkout timeout, recycle,
pre-ping, invalidation of one connection, and disposal of all (for example
after a server restart).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

DBAPIConnection = Any


class PoolTimeout(Exception):
    """No connection became free within the checkout timeout."""


class PooledConnection:
    """A raw connection checked out of a :class:`ConnectionPool`.

    ``raw`` is the DBAPI connection. Give it back with :meth:`release`; mark
    it dead first with :meth:`invalidate` when the driver reported a
    disconnect, so the pool closes it instead of reusing it.
    """

    __slots__ = ("created", "cursor", "generation", "invalid", "pool", "raw", "runner")

    def __init__(self, pool: ConnectionPool, raw: DBAPIConnection, generation: int) -> None:
        self.pool = pool
        self.raw = raw
        self.created = time.monotonic()
        self.generation = generation
        self.invalid = False
        #: A driver cursor kept for reuse with this connection (see ``Dialect.reusable_cursors``).
        self.cursor: Any = None
        #: The dialect's prepared-statement runner for this connection (``Dialect.prepared_runner``):
        #: None until first asked for, False when the dialect has none.
        self.runner: Any = None

    def invalidate(self) -> None:
        """Mark the connection dead: it is closed on release, never reused."""
        self.invalid = True

    def release(self) -> None:
        """Return the connection to its pool."""
        self.pool._checkin(self)


class ConnectionPool:
    """LIFO pool: reuses the most recently used connection, keeps at most ``size`` idle.

    ``creator`` opens one connection; ``ping`` tests one (pre-ping). Up to
    ``size + max_overflow`` connections exist at once; a checkout beyond that
    waits ``timeout`` seconds and then raises :class:`PoolTimeout`.
    Connections older than ``recycle`` seconds are replaced at checkout.
    """

    def __init__(self, creator: Callable[[], DBAPIConnection], *, size: int = 5, max_overflow: int = 10,
                 timeout: float = 30.0, recycle: float | None = None, pre_ping: bool = False,
                 ping: Callable[[DBAPIConnection], None] | None = None) -> None:
        self._creator = creator
        self.size = size
        self.max_overflow = max_overflow
        self.timeout = timeout
        self.recycle = recycle if recycle and recycle > 0 else None
        self.pre_ping = pre_ping and ping is not None
        self._ping = ping
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._idle: list[PooledConnection] = []
        self._open = 0
        self._waiting = 0
        self._generation = 0
        self._closed = False

    def checkout(self) -> PooledConnection:
        """A connection for the caller's exclusive use until it calls ``release()``."""
        with self._lock:
            if self._idle:
                entry: PooledConnection | None = self._idle.pop()
            else:
                entry = None
                if self._open >= self.size + self.max_overflow:
                    deadline = time.monotonic() + self.timeout
                    while not self._idle and self._open >= self.size + self.max_overflow:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or self._closed:
                            raise PoolTimeout(f"pool exhausted after {self.timeout:g} s")
                        self._waiting += 1
                        try:
                            self._freed.wait(remaining)
                        finally:
                            self._waiting -= 1
                    if self._idle:
                        entry = self._idle.pop()
                if entry is None:
                    self._open += 1
            generation = self._generation
        if entry is None:
            return self._create(generation)
        if entry.generation != generation or (self.recycle and time.monotonic() - entry.created > self.recycle):
            self._discard(entry)
            return self._replace(generation)
        if self.pre_ping:
            try:
                self._ping(entry.raw)  # type: ignore[misc]
            except Exception:
                self._discard(entry)
                return self._replace(generation)
        return entry

    def _replace(self, generation: int) -> PooledConnection:
        with self._lock:
            self._open += 1
        return self._create(generation)

    def _create(self, generation: int) -> PooledConnection:
        try:
            return PooledConnection(self, self._creator(), generation)
        except BaseException:
            with self._lock:
                self._open -= 1
                self._freed.notify()
            raise

    def _discard(self, entry: PooledConnection) -> None:
        """Close ``entry`` (already removed from the idle list) and forget it."""
        with self._lock:
            self._open -= 1
            self._freed.notify()
        _close_quietly(entry.raw)

    def _checkin(self, entry: PooledConnection) -> None:
        with self._lock:
            keep = (not entry.invalid and not self._closed and entry.generation == self._generation
                    and len(self._idle) < self.size)
            if keep:
                self._idle.append(entry)
            else:
                self._open -= 1
            if self._waiting:
                self._freed.notify()
        if not keep:
            _close_quietly(entry.raw)

    def dispose(self) -> None:
        """Close every idle connection; checked-out ones are closed when they come back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._freed.notify_all()
        for entry in idle:
            _close_quietly(entry.raw)

    def close(self) -> None:
        """Dispose and refuse further checkouts that would have to wait."""
        self._closed = True
        self.dispose()

    def status(self) -> dict[str, int]:
        """``size``, ``checkedin``, ``checkedout`` and ``overflow`` counts."""
        with self._lock:
            idle, total = len(self._idle), self._open
        return {"size": self.size, "checkedin": idle, "checkedout": total - idle,
                "overflow": max(0, total - self.size)}


def _close_quietly(raw: DBAPIConnection) -> None:
    try:
        raw.close()
    except Exception:  # a dead connection may fail to close; it is gone either way
        pass
