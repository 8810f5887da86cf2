"""The migration lock: one migrator per database, across processes and hosts.

:class:`MigrationLock` is the shared machinery: a non-blocking
:meth:`~MigrationLock.try_acquire` called with exponential backoff and
jitter until ``timeout``, telling ``on_wait`` (and the log) who holds the lock
whenever the holder changes, and raising :class:`MigrationLockError` naming
the holder when time runs out. It never blocks inside the database, so a
waiting migrator cannot deadlock with a running non-transactional statement
such as ``CREATE INDEX CONCURRENTLY``.

Dialects subclass it with a lock their database releases by itself when the
holder dies (PostgreSQL session advisory locks, MySQL ``GET_LOCK``, an OS file
lock for SQLite); :class:`FileLock` and :class:`ProcessLock` live here
because they need only the standard library.

The engine obtains a lock from ``Dialect.migration_lock``, so a
dialect subclass can provide its own lock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar

from dbkeeper.migrations.errors import InvalidLockTimeoutError, MigrationLockError

logger = logging.getLogger("dbkeeper.migrations")

DEFAULT_LOCK_TIMEOUT = 60.0


def check_lock_timeout(value: float) -> float:
    """``value`` as seconds to wait for the lock: zero or more, ``inf`` for ever; else a typed error.

    A negative or ``nan`` timeout used to be taken as "give up at once",
    which reads as a busy lock rather than the typo it is.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidLockTimeoutError(f"lock timeout {value!r} is not a number of seconds") from None
    if math.isnan(seconds) or seconds < 0:
        raise InvalidLockTimeoutError(f"lock timeout {value!r} must be zero or more seconds (inf waits for ever)")
    return seconds


@dataclass(frozen=True)
class LockHolder:
    """Who holds a migration lock, as far as the database can tell."""

    pid: int | None = None
    host: str | None = None
    user: str | None = None
    application: str | None = None
    since: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A one-line description for people: ``user alice on web-1, pid 4242, application 'x', since ...``.

        It always starts with the user (``an unknown user`` when the database
        cannot tell), so "held by ..." never reads "held by on 127.0.0.1".
        """
        who = f"user {self.user}" if self.user else "an unknown user"
        if self.host:
            who += f" on {self.host}"
        parts = [who]
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.application:
            parts.append(f"application {self.application!r}")
        if self.since:
            parts.append(f"since {self.since}")
        parts.extend(f"{k} {v}" for k, v in self.details.items() if v not in (None, ""))
        return ", ".join(parts)


class MigrationLock(ABC):
    """Base class of migration locks: backoff, timeout and holder reporting.

    Subclasses implement :meth:`try_acquire`, :meth:`release` and
    :meth:`holder`. ``on_wait`` (set by the engine before entering) receives a
    message each time the lock is found taken by a new holder.
    """

    initial_delay: ClassVar[float] = 0.02
    max_delay: ClassVar[float] = 0.5

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = check_lock_timeout(timeout)
        self.on_wait: Callable[[str], None] | None = None
        self.acquired = False
        self.waited = 0.0

    # -- to implement ----------------------------------------------------------------------
    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if it is free; never wait. True when taken."""

    def _guarded_try(self) -> bool:
        try:
            return self.try_acquire()
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def release(self) -> None:
        """Release the lock (idempotent)."""

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, or ``None`` when it looks free or cannot be told."""
        return None

    def close(self) -> None:  # noqa: B027 - an optional hook: most locks hold nothing to free
        """Free resources after giving up (a dedicated connection, say); the lock is not held."""

    def where(self) -> str:
        """What the lock protects, for messages."""
        return f"migration lock {self.name!r}"

    # -- the protocol ----------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lock, retrying with backoff until ``timeout``; raise naming the holder."""
        start = time.monotonic()
        deadline = start + max(0.0, self.timeout)
        delay = self.initial_delay
        last_seen: str | None = None
        while True:
            if self._guarded_try():
                self.acquired = True
                self.waited = time.monotonic() - start
                return
            holder = self._describe_holder()
            now = time.monotonic()
            if now >= deadline:
                self.close()
                raise MigrationLockError(
                    f"{self.where()} is still held by {holder} after waiting {self.timeout:g} s; another "
                    "migrator is running. Wait for it, or raise --lock-timeout. If that process is gone, the "
                    "database releases its lock by itself"
                )
            if holder != last_seen:
                last_seen = holder
                message = f"waiting for {self.where()}, held by {holder}"
                logger.info(message)
                if self.on_wait is not None:
                    self.on_wait(message)
            time.sleep(min(delay * random.uniform(0.5, 1.0), max(0.0, deadline - now)))
            delay = min(delay * 2, self.max_delay)

    def _describe_holder(self) -> str:
        try:
            holder = self.holder()
        except Exception as exc:  # reporting must never break waiting
            logger.debug("cannot tell who holds %s: %s", self.where(), exc)
            holder = None
        return holder.describe() if holder is not None else "another session"

    def __enter__(self) -> MigrationLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.acquired:
            self.acquired = False
            self.release()


def holder_record() -> dict[str, Any]:
    """What a lock holder writes about itself: pid, host, user, start time, program."""
    from dbkeeper.migrations.history import Operator, now_text

    operator = Operator.current()
    return {"pid": operator.pid, "host": operator.host, "user": operator.user, "since": now_text(),
            "program": " ".join(os.path.basename(a) for a in sys.argv[:3])}


class FileLock(MigrationLock):
    """An OS lock on a side file (``flock`` on POSIX, ``msvcrt.locking`` on Windows).

    The kernel drops the lock when the holding process dies, however it dies,
    so a crash cannot leave a stale lock. The holder writes its pid, host,
    user and start time into the file so waiters can say who it is. The file
    is never deleted: removing it would let two processes lock two different
    files of the same name.
    """

    def __init__(self, path: str | os.PathLike[str], name: str, timeout: float) -> None:
        super().__init__(name, timeout)
        self.path = Path(path)
        self._handle: IO[str] | None = None

    def where(self) -> str:
        return f"migration lock {self.path}"

    def try_acquire(self) -> bool:
        handle = self.path.open("a+", encoding="utf-8")
        try:
            if not _lock_file(handle):
                handle.close()
                return False
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder_record()))
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            _unlock_file(handle)
            handle.close()

    def holder(self) -> LockHolder | None:
        try:
            text = self.path.read_text(encoding="utf-8")
            data = json.loads(text) if text.strip() else None
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        return LockHolder(pid=data.get("pid"), host=data.get("host"), user=data.get("user"),
                          application=data.get("program"), since=data.get("since"))


def _lock_file(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_file(handle: IO[str]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class ProcessLock(MigrationLock):
    """A lock shared by the threads of this process only (for in-memory databases)."""

    def __init__(self, key: str, name: str, timeout: float) -> None:
        super().__init__(name, timeout)
        with _process_locks_guard:
            self._lock = _process_locks.setdefault(key, threading.Lock())

    def try_acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()

    def holder(self) -> LockHolder | None:
        return LockHolder(pid=os.getpid(), details={"thread": "another thread of this process"})
