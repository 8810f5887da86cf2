"""Run blocking database calls so that Ctrl-C interrupts them at once.

Python raises ``KeyboardInterrupt`` only in the main thread and only between
bytecodes. A driver call that blocks in C - sqlite3 running a long query, a
socket read waiting for a server - keeps the main thread there until it
returns, so Ctrl-C would appear to do nothing. The CLI therefore runs such
calls in a daemon worker thread while the main thread waits in short,
interruptible steps; on Ctrl-C the main thread leaves at once, the CLI closes
its connections and exits with 130, and the worker dies with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POLL_SECONDS = 0.1


def run_interruptibly(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``func(*args, **kwargs)`` in a worker thread; return its result or raise its exception."""
    result: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            result.append(func(*args, **kwargs))
        except BaseException as exc:  # handed to the main thread, which re-raises it
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, name="dbkeeper-cli-worker", daemon=True)
    worker.start()
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not done.wait(_POLL_SECONDS):
        pass
    if failure:
        raise failure[0]
    return result[0]
