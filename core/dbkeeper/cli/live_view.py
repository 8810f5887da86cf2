"""The live view of ``dbkeeper monitor``: one snapshot per interval, drawn with rich.

A snapshot joins the two sources monitoring has: what the recorder stored
for the connection over the last ``window`` seconds (rate, latency
percentiles, errors, top statements) and the database's own statistics (the
collect-metrics hook), whose cumulative counters become per-second rates
against the previous snapshot. Snapshots are plain dicts so ``--json`` can
print them as they are and tests can check them; rich is imported only to
draw them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor


def take_snapshot(monitor: DatabasePerformanceMonitor, connection: DatabaseConnection,
                  window: float) -> dict[str, Any]:
    """Native statistics (with rates) and the recorded statements of the last ``window`` seconds."""
    native = monitor.collect_native_metrics(connection)
    analysis = monitor.query_analysis(connection.name, since=time.time() - window, top=5)
    return {"database_name": connection.name, "dialect": connection.dialect.name,
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "window_seconds": window,
            "queries": analysis.to_dict(), "native": native}


def _value(native: dict[str, Any], key: str, fmt: str = "{}") -> str:
    value = native.get(key)
    return "unavailable" if value is None else fmt.format(value)


def render(snapshot: dict[str, Any]) -> RenderableType:
    """The snapshot as rich tables: summary, dialect counters per second, top statements."""
    from rich.console import Group

    from dbkeeper.cli._output import add_row, new_table

    queries, native = snapshot["queries"], snapshot["native"]
    summary = new_table("metric", "value", title=f"{snapshot['database_name']} ({snapshot['dialect']}) at "
                        f"{snapshot['time']}, statements of the last {snapshot['window_seconds']:g} s", right=(1,))
    rows = [
        ("statements recorded", queries["samples"]),
        ("statements / s", f"{queries['queries_per_second']:.2f}"),
        ("latency avg / p50 / p95 / p99 ms",
         f"{queries['avg_ms']:.3f} / {queries['p50_ms']:.3f} / {queries['p95_ms']:.3f} / {queries['p99_ms']:.3f}"),
        ("errors", f"{queries['errors']} ({queries['error_rate']:.1%})"),
        ("connections active / idle", f"{_value(native, 'connections_active')} / "
                                      f"{_value(native, 'connections_idle')}"),
        ("connections in use / limit", f"{_value(native, 'connections_total')} / "
                                       f"{_value(native, 'max_connections')}"),
        ("cache hit ratio", _value(native, "cache_hit_ratio", "{:.2%}")),
    ]
    for label, value in rows:
        add_row(summary, (label, value))
    parts: list[Any] = [summary]
    rates = native.get("rates")
    if rates and rates.get("rates"):
        counters = new_table("counter", "per second", title="database counters", right=(1,))
        for key, value in rates["rates"].items():
            add_row(counters, (key, "unavailable (reset)" if value is None else f"{value:,.2f}"))
        parts.append(counters)
    if queries["top_by_total_time"]:
        top = new_table("statement", "calls", "total ms", "avg ms", "p95 ms", title="top statements",
                        right=(1, 2, 3, 4))
        for item in queries["top_by_total_time"]:
            add_row(top, (item["fingerprint"], item["calls"], f"{item['total_ms']:.3f}", f"{item['avg_ms']:.3f}",
                          f"{item['p95_ms']:.3f}"))
        parts.append(top)
    return Group(*parts)


def run_live(monitor: DatabasePerformanceMonitor, connection: DatabaseConnection, *, interval: float,
             count: int | None, window: float, emit: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Take a snapshot every ``interval`` seconds, ``count`` times (forever when ``None``); return how many.

    ``emit`` receives each snapshot (JSON output); without it the snapshots
    are drawn: in place on a terminal, one after another otherwise.
    """
    from dbkeeper.cli._output import make_console, show

    console = make_console()
    taken = 0
    live: Any = None
    if emit is None and console.is_terminal:
        from rich.live import Live

        live = Live(console=console, auto_refresh=False)
        live.start()
    try:
        while count is None or taken < count:
            if taken:
                time.sleep(interval)
            snapshot = take_snapshot(monitor, connection, window)
            taken += 1
            if emit is not None:
                emit(snapshot)
            elif live is not None:
                live.update(render(snapshot), refresh=True)
            else:
                show(console, render(snapshot))
    finally:
        if live is not None:
            live.stop()
    return taken
