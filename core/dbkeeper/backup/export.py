"""Parallel export with ordered output and bounded memory.

A chainable dump is a sequence of parts (one table, or one key range of a
large table) whose bytes must reach the sink in a fixed order, whatever the
number of workers: the content-defined chunks, and so what an incremental
shares with its base, depend only on the bytes. :func:`write_ordered` runs
up to ``workers`` parts at once, each in a worker thread that pushes blocks
into its own small queue; the calling thread drains the queues strictly in
order into the sink. A part that runs ahead blocks once its queue is full,
so at most ``workers x (queue_blocks + 1)`` blocks are held at any time.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

Emit = Callable[[bytes], None]
_DONE = object()


class _Cancelled(Exception):
    """Raised inside a producer when the export was abandoned."""


@dataclass
class Part:
    """One piece of the export: ``prefix``, whatever ``produce`` emits, then ``suffix``."""

    produce: Callable[[Emit], None]
    prefix: bytes = b""
    suffix: bytes = b""


def _run(part: Part, out: queue.Queue[object], cancel: threading.Event) -> None:
    def emit(block: bytes) -> None:
        while True:
            if cancel.is_set():
                raise _Cancelled
            try:
                out.put(block, timeout=0.1)
                return
            except queue.Full:
                continue

    try:
        part.produce(emit)
        out.put(_DONE)
    except _Cancelled:
        pass
    except BaseException as exc:  # handed to the consumer, which re-raises it in order
        out.put(exc)


def write_ordered(sink: IO[bytes], parts: Sequence[Part], workers: int, *, queue_blocks: int = 4) -> None:
    """Run ``parts`` on ``workers`` threads and write their output to ``sink`` in order."""
    workers = max(1, workers)
    cancel = threading.Event()
    queues: deque[queue.Queue[object]] = deque()
    submitted = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="dbkeeper-export") as pool:
        try:
            for part in parts:
                while submitted < len(parts) and len(queues) < workers:
                    q: queue.Queue[object] = queue.Queue(maxsize=queue_blocks)
                    pool.submit(_run, parts[submitted], q, cancel)
                    queues.append(q)
                    submitted += 1
                current = queues.popleft()
                sink.write(part.prefix)
                while (item := current.get()) is not _DONE:
                    if isinstance(item, BaseException):
                        raise item
                    assert isinstance(item, bytes | bytearray | memoryview)
                    sink.write(item)
                sink.write(part.suffix)
        except BaseException:
            cancel.set()
            raise
