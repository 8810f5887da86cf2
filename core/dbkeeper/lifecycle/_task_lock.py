"""A per-instance asyncio lock that the task holding it may take again.

Decorated methods call each other (``migrate_db`` calling ``update_version``,
a query helper calling ``get_version``); with a plain ``asyncio.Lock`` the
inner call would wait forever for the outer one, which is how the old
``DBManager`` deadlocked. Ownership is per *task*, not per context: a task
started inside an operation does not inherit the lock, it waits for it, so a
fire-and-forget task can never run on the connection at the same time as the
next operation.
"""

from __future__ import annotations

import asyncio


class TaskLock:
    """Re-entrant for the owning task; FIFO for everyone else (``asyncio.Lock`` semantics)."""

    __slots__ = ("_depth", "_lock", "_owner")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0

    def held_by_current_task(self) -> bool:
        """True when the running task holds the lock (so a call is nested in an operation)."""
        owner = self._owner
        return owner is not None and owner is asyncio.current_task()

    @property
    def locked(self) -> bool:
        """True while some task holds the lock."""
        return self._owner is not None

    async def acquire(self) -> None:
        """Take the lock, or deepen the hold when the running task already owns it."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner = task
        self._depth = 1

    def release(self) -> None:
        """Undo one :meth:`acquire`; the lock is free again after the outermost release."""
        if self._depth <= 0:
            raise RuntimeError("TaskLock.release() called without a matching acquire()")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()
