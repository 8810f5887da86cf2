"""Sampling the server's statistics into the workspace, and the server section of reports.

Why a sampler: the server's counters are cumulative, so a rate needs two
readings. ``dbkeeper monitor`` and ``monitor serve`` read the server every
interval and store each reading's window (rates, the top statements of the
window) in the workspace's metrics store, so reports and the dashboard
have history; a one-shot ``monitor report`` or ``optimize`` with no fresh
history takes its own short window (:data:`ONE_SHOT_SECONDS`, stated in the
output) so its rates are real, not cumulative averages since a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbkeeper.monitoring.server_stats import ServerStats, cumulative_statements, read_server, server_stats_for, window

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.store import MetricsStore

#: Seconds a one-shot report samples the server when the workspace has no fresh window.
ONE_SHOT_SECONDS = 3.0
#: A stored window ending at most this many seconds ago counts as fresh history.
FRESH_SECONDS = 120.0
#: Two readings further apart than this make no window (the rates would average over a gap).
MAX_GAP_SECONDS = 3600.0


class ServerSampler:
    """Reads one connection's server and stores each reading plus its window since the previous one."""

    def __init__(self, connection: DatabaseConnection, store: MetricsStore, reader: ServerStats | None = None) -> None:
        self.connection = connection
        self.store = store
        self.reader = reader if reader is not None else server_stats_for(connection.dialect)

    @property
    def available(self) -> bool:
        """Whether this dialect reads its server's statistics at all (SQLite: no, the recorder is the source)."""
        return self.reader is not None

    def sample(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Read the server now; return the reading and its window since the stored reading (or ``None``)."""
        reading = read_server(self.connection, self.reader)
        assert reading is not None, "sample() needs a dialect with a server statistics reader"
        previous = self.store.last_server_reading(self.connection.name)
        span = None
        if previous is not None and 0 < reading["ts"] - previous["ts"] <= MAX_GAP_SECONDS:
            span = window(previous, reading)
        self.store.save_server_reading(self.connection.name, reading, span)
        return reading, span

    def history(self, *, since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The stored windows of this connection, oldest first."""
        return self.store.server_windows(self.connection.name, since=since, limit=limit)


def server_section(connection: DatabaseConnection, store: MetricsStore, *, sample_seconds: float = ONE_SHOT_SECONDS,
                   sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """The server's part of a report: sources, notices, the window's rates and statements, sessions, lock waits.

    Uses the newest stored window when it is fresh (``monitor``/``monitor
    serve`` are sampling); else reads the server twice ``sample_seconds``
    apart and says so under ``window["how"]``. ``None`` when the dialect
    reads no server statistics.
    """
    sampler = ServerSampler(connection, store)
    if not sampler.available:
        return None
    now = time.time()
    recent = sampler.history(since=now - FRESH_SECONDS, limit=1)
    if recent:
        reading = store.last_server_reading(connection.name)
        newest = recent[-1]
        span: dict[str, Any] | None = newest
        how = f"the newest stored window ({newest['seconds']:.1f} s, ended {now - newest['end']:.0f} s ago)"
        if reading is None:  # pragma: no cover - a window is stored with its reading
            reading, span = sampler.sample()
    else:
        sampler.sample()
        sleep(sample_seconds)
        reading, span = sampler.sample()
        how = f"sampled for {span['seconds'] if span else sample_seconds:.1f} s by this command (no fresh history)"
    assert reading is not None
    return section(reading, span, how=how)


def section(reading: dict[str, Any], span: dict[str, Any] | None, *, how: str) -> dict[str, Any]:
    """A report section from one reading and its window."""
    unavailable = dict(reading.get("unavailable") or {})
    if span is not None:
        unavailable.update(span.get("unavailable") or {})
    return {
        "source": reading.get("source"),
        "sources": reading.get("sources") or [],
        "notices": reading.get("notices") or [],
        "window": None if span is None else {"start": span["start"], "end": span["end"], "seconds": span["seconds"],
                                             "how": how, "reset": span.get("reset", False)},
        "rates": {} if span is None else span.get("rates") or {},
        "counter_rates": {} if span is None else span.get("counter_rates") or {},
        "statements": [] if span is None else span.get("statements") or [],
        "statements_cumulative": cumulative_statements(reading, top=10),
        "gauges": reading.get("gauges") or {},
        "sessions": reading.get("sessions") or {},
        "lock_waits": reading.get("lock_waits") or [],
        "replication": reading.get("replication"),
        "unavailable": unavailable,
    }
