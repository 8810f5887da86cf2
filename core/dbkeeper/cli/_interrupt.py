"""Run blocking database calls so that Ctrl-C interrupts them at once.

Python raises ``KeyboardInterrupt`` only in the main thread and only between
bytecodes. A driver call that blocks in C - sqlite3 running a long query, a
socket read waiting for a server - keeps the main thread there until it
returns, so Ctrl-C would appear to do nothing. The CLI therefore runs such
calls in a daemon worker thread while the main thread waits in short,
interruptible steps; on Ctrl-C the main thread leaves at once, the CLI closes
its connections and exits with 130, and the worker dies with the process.

SIGTERM (what ``timeout``, systemd and docker send) gets the same treatment:
:func:`sigterm_as_interrupt` turns it into :class:`Terminated`, a
``KeyboardInterrupt``, so every clean-up that Ctrl-C runs (a restore dropping
its scratch database, temp directories with option files removed) runs for
it too; the CLI then exits with 143. Python's default for SIGTERM is to die
on the spot, which left the scratch database and the 0600 option files
behind. Only the first SIGTERM interrupts: a second one arriving while the
clean-up runs is ignored, so the clean-up is not itself cut short (SIGKILL
still ends the process).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POLL_SECONDS = 0.1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's ``KeyboardInterrupt`` so the same clean-up runs."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, the first SIGTERM raises :class:`Terminated`; later ones are ignored.

    Outside the main thread (an embedding application's worker, a test
    runner's thread) signal handlers cannot be installed and nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
