"""Parallel export with ordered output and bounded memory.

A chainable dump is a sequence of parts (one table, or one key range of a
large table) whose bytes must reach the sink in a fixed order, whatever the
number of workers: the content-defined chunks, and so what an incremental
shares with its base, depend only on the bytes. :func:`write_ordered` runs
up to ``workers`` parts at once, each in a worker thread that pushes blocks
into its own small queue; the calling thread drains the queues strictly in
order into the sink. A part that runs ahead blocks once its queue is full,
so at most ``workers x (queue_blocks + 1)`` blocks are held at any time.

Two more things a part can ask of a chunking sink (the backup's
:class:`~dbkeeper.backup.pipeline.ChunkSink`), which is how an incremental
skips what did not change: ``cut`` ends the current chunk before the part,
so the part's bytes start a chunk of their own (and the chunks between two
cuts cover exactly what was written between them); ``reuse`` writes nothing
and instead appends a span of the base backup's chunk sequence, recorded at
the base's own cuts, for bytes the dialect proved unchanged. A producer may
decide that while it runs (set ``reuse`` on its part and emit nothing): the
writer reads ``reuse`` after the part's producer has finished.
:func:`write_ordered` returns the sequence position at every cut.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Protocol, cast

Emit = Callable[[bytes], None]
_DONE = object()


class _Cancelled(Exception):
    """Raised inside a producer when the export was abandoned."""


class ChunkingSink(Protocol):
    """What parts with ``cut`` or ``reuse`` need of the sink besides ``write``."""

    def cut(self) -> int:
        """End the current chunk here; return the number of chunks in the sequence so far."""

    def reuse_base(self, start: int, end: int) -> None:
        """Append the base backup's sequence entries ``start:end`` as if their bytes had been written."""


@dataclass
class Part:
    """One piece of the export: ``prefix``, whatever ``produce`` emits (or the ``reuse`` span), then ``suffix``."""

    produce: Callable[[Emit], None] | None = None
    prefix: bytes = b""
    suffix: bytes = b""
    #: End the sink's current chunk before this part's ``prefix``.
    cut: bool = False
    #: ``(start, end)`` of the base's sequence to append instead of producing bytes.
    reuse: tuple[int, int] | None = None


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
        if part.produce is not None:
            part.produce(emit)
        out.put(_DONE)
    except _Cancelled:
        pass
    except BaseException as exc:  # handed to the consumer, which re-raises it in order
        out.put(exc)


def write_ordered(sink: IO[bytes], parts: Sequence[Part], workers: int, *,
                  queue_blocks: int = 4) -> list[int | None]:
    """Run ``parts`` on ``workers`` threads and write their output to ``sink`` in order.

    Returns, per part, the sink's sequence position at its ``cut`` (``None``
    for parts without one).
    """
    workers = max(1, workers)
    cancel = threading.Event()
    queues: deque[queue.Queue[object] | None] = deque()
    positions: list[int | None] = []
    submitted = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="dbkeeper-export") as pool:
        try:
            for part in parts:
                while submitted < len(parts) and len(queues) < workers:
                    if parts[submitted].produce is None:
                        queues.append(None)
                    else:
                        q: queue.Queue[object] = queue.Queue(maxsize=queue_blocks)
                        pool.submit(_run, parts[submitted], q, cancel)
                        queues.append(q)
                    submitted += 1
                current = queues.popleft()
                positions.append(cast("ChunkingSink", sink).cut() if part.cut else None)
                sink.write(part.prefix)
                while current is not None and (item := current.get()) is not _DONE:
                    if isinstance(item, BaseException):
                        raise item
                    assert isinstance(item, bytes | bytearray | memoryview)
                    sink.write(item)
                if part.reuse is not None:  # set up front, or by the producer before it finished
                    cast("ChunkingSink", sink).reuse_base(*part.reuse)
                sink.write(part.suffix)
        except BaseException:
            cancel.set()
            raise
    return positions
