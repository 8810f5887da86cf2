"""A writer that keeps changing a database on a thread while a test backs it up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

#: ``step(connection, i)``: the ``i``-th write (1, 2, ...); it runs in a transaction of its own.
Step = Callable[[DatabaseConnection, int], None]


class BackgroundWriter:
    """Runs ``step`` in a transaction, again and again, on its own connection and thread, while the block runs.

    Use it as a context manager; :meth:`wait_for_writes` makes sure writes
    are going on before the test's next step. Leaving the block stops the
    writer and re-raises whatever failed in it (a failure in a thread would
    otherwise be lost).
    """

    def __init__(self, url: DatabaseURL, step: Step) -> None:
        self._url = url
        self._step = step
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self.writes = 0
        self._thread = threading.Thread(target=self._run, name="dbkeeper-test-writer")

    def _run(self) -> None:
        try:
            with DatabaseConnection.from_url(self._url) as conn:
                while not self._stop.is_set():
                    with conn.transaction():
                        self._step(conn, self.writes + 1)
                    self.writes += 1
        except BaseException as exc:  # re-raised when the block ends
            self._errors.append(exc)

    def wait_for_writes(self, count: int = 50, timeout: float = 60.0) -> None:
        """Return once ``count`` more writes have committed (or the writer died: leaving the block says why)."""
        target = self.writes + count
        deadline = time.monotonic() + timeout
        while self.writes < target and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if self._errors and exc is None:
            raise self._errors[0]
