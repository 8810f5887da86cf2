"""The seed monitoring API: ``DatabaseMetrics``, ``DatabasePerformanceMonitor``,
``monitor_database`` and ``optimize_database``.

Names and shapes follow the API users port code from. A database is named by
its connection name (``DatabaseConnection.name``), which is what the
recorder stores samples under; with no samples the functions return the
empty analysis (``metrics`` is ``None``, every section empty), not an error,
because "nothing recorded yet" is a normal state for a fresh workspace.

Native statistics and plan-based recommendations need a live connection.
The seed call passes only a name and a workspace, so the database is
resolved from what dbkeeper knows: ``connection=...`` when given, a live
connection of this process with that name, ``[connections.NAME]`` in
``dbkeeper.toml``, the URL recorded for that name (without its password) in
the workspace, or ``DBKEEPER_URL`` when its database has that name (see
:mod:`dbkeeper.monitoring.known_databases`). A connection opened that way is
closed again before the call returns. When nothing knows the name,
``unavailable`` says exactly what to add.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dbkeeper.monitoring.analysis import QueryAnalysis, analyze_samples
from dbkeeper.monitoring.store import MetricsStore, Sample

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.advisor import Thresholds

#: Alert thresholds (documented in docs/monitoring.md).
ERROR_RATE_ALERT = 0.05
SLOW_P95_MS = 500.0
CACHE_HIT_ALERT = 0.90
SATURATION_ALERT = 0.80
CACHE_MIN_REQUESTS = 100_000


@dataclass
class DatabaseMetrics:
    """A snapshot of one database's performance.

    Fields the database did not let us read (or that need a live connection)
    are ``None``; ``unavailable`` maps such a field to the reason.
    """

    database_name: str
    timestamp: datetime
    connections_active: int | None
    connections_idle: int | None
    queries_per_second: float
    average_query_time_ms: float
    cache_hit_ratio: float | None
    disk_io_mb: float | None
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Where ``queries_per_second`` and ``average_query_time_ms`` come from: the server's source or "recorder".
    source: str = "recorder"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (timestamp as ISO 8601)."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


class DatabasePerformanceMonitor:
    """Analyse what the recorder stored for a database, plus its native statistics.

    ``workspace_dir`` selects the workspace whose metrics store is read
    (default: :func:`dbkeeper.workspace.resolve_workspace`).
    """

    def __init__(self, workspace_dir: str | os.PathLike[str] | None = None, *,
                 sample_seconds: float | None = None) -> None:
        from dbkeeper.monitoring.sampler import ONE_SHOT_SECONDS

        self.workspace_dir = workspace_dir
        self.store = MetricsStore.in_workspace(workspace_dir)
        #: Seconds a report samples the server when the workspace has no fresh window of it (0: one reading).
        self.sample_seconds = ONE_SHOT_SECONDS if sample_seconds is None else float(sample_seconds)

    def record_query(self, database_name: str, query: str, duration_ms: float, *, rows: int = 0,
                     error: bool = False, timestamp: float | None = None) -> None:
        """Store one statement timing by hand (for statements run outside dbkeeper)."""
        from dbkeeper.monitoring.fingerprint import fingerprint

        now = time.time()
        sample = Sample(database_name, now if timestamp is None else timestamp, fingerprint(query),
                        float(duration_ms), int(rows), bool(error))
        self.store.append([sample], now=now)

    def query_analysis(self, database_name: str, *, since: float | None = None, top: int = 10) -> QueryAnalysis:
        """Statistics of the stored samples (flushing this process's recorder first)."""
        _flush_process_recorder(self.workspace_dir)
        return analyze_samples(database_name, self.store.samples(database_name, since=since), top=top)

    def collect_native_metrics(self, connection: DatabaseConnection) -> dict[str, Any]:
        """The dialect's native statistics through ``Dialect.collect_metrics``, plus ``rates``.

        Each call stores the counters in the workspace, so the next call (from
        any process) turns them into per-second ``rates``
        (:func:`dbkeeper.monitoring.native.counter_rates`, reset-aware).
        """
        from dbkeeper.monitoring.native import collect_native, counter_rates, snapshot_counters

        native = collect_native(connection)
        if not native.get("supported", True):
            return native
        now = time.time()
        previous = self.store.last_snapshot(connection.name)
        if previous is not None and now > previous[0]:
            native["rates"] = counter_rates(previous[1], native, now - previous[0])
        else:
            native["rates"] = None
            native.setdefault("unavailable", {})["rates"] = "rates need a second snapshot; run again later"
        self.store.save_snapshot(connection.name, now, snapshot_counters(native))
        return native

    def analyze_database_performance(self, database_name: str, *,
                                     connection: DatabaseConnection | None = None) -> dict[str, Any]:
        """Analysis of ``database_name``: ``metrics`` (or ``None``), ``query_analysis``, ``native``.

        Empty analysis when nothing was recorded and no connection is known:
        ``{"database_name": ..., "metrics": None, "query_analysis": <all
        zero>, "native": {}}``. Native statistics come from ``connection``,
        else from a connected connection of this process with that name.
        """
        with _resolved(database_name, connection, self.workspace_dir) as (found, why):
            analysis = self._analyze(database_name, found)[0]
        if why is not None:
            analysis["unavailable"] = {"native": why}
        return analysis

    def _analyze(self, database_name: str, connection: DatabaseConnection | None,
                 top: int = 10) -> tuple[dict[str, Any], QueryAnalysis]:
        analysis = self.query_analysis(database_name, top=max(top, 25))
        native = self.collect_native_metrics(connection) if connection is not None else {}
        server = self.server_statistics(connection) if connection is not None else None
        metrics = _metrics(database_name, analysis, native, connection, server) \
            if analysis.samples or native else None
        shown = analysis.to_dict()
        shown["top_by_total_time"] = shown["top_by_total_time"][:top]
        return {
            "database_name": database_name,
            "metrics": metrics.to_dict() if metrics is not None else None,
            "query_analysis": shown,
            "native": native,
            "server": server,
        }, analysis

    def server_statistics(self, connection: DatabaseConnection) -> dict[str, Any] | None:
        """The server's own statistics (:func:`dbkeeper.monitoring.sampler.server_section`), ``None`` for none.

        A fresh stored window (``monitor``/``monitor serve`` sampling) is used
        as it is; else the server is read twice :attr:`sample_seconds` apart.
        """
        from dbkeeper.monitoring.sampler import server_section

        return server_section(connection, self.store, sample_seconds=self.sample_seconds)

    def get_performance_report(self, database_name: str, *, connection: DatabaseConnection | None = None,
                               thresholds: Thresholds | None = None) -> dict[str, Any]:
        """Report with the sections ``query_performance``, ``database_performance``, ``alerts``,
        ``recommendations`` (each empty when there is nothing to say), and ``unavailable``: the checks
        that could not run, with the reason."""
        with _resolved(database_name, connection, self.workspace_dir) as (found, why):
            return self._report(database_name, found, why, thresholds)

    def _report(self, database_name: str, connection: DatabaseConnection | None, why: str | None,
                thresholds: Thresholds | None) -> dict[str, Any]:
        from dbkeeper.monitoring.advisor import DEFAULT_THRESHOLDS, advise

        analysis, queries = self._analyze(database_name, connection)
        query = analysis["query_analysis"]
        recommendations: list[dict[str, Any]] = []
        unavailable: dict[str, str] = {}
        if connection is not None:
            advice = advise(connection, queries, native=analysis["native"] or None,
                            thresholds=thresholds or DEFAULT_THRESHOLDS)
            recommendations = [r.to_dict() for r in advice.recommendations]
            unavailable = advice.unavailable
        elif why is not None:
            unavailable["recommendations"] = why
        server = analysis["server"]
        return {
            "database_name": database_name,
            "generated_at": datetime.now(UTC).isoformat(),
            "notices": (server or {}).get("notices") or [],
            "server": server,
            "query_performance": query if query["samples"] else {},
            "database_performance": {"metrics": analysis["metrics"], "native": analysis["native"],
                                     "connection_use": _connection_use(analysis["native"])}
            if analysis["metrics"] is not None else {},
            "alerts": _alerts(query, analysis["metrics"], analysis["native"]),
            "recommendations": recommendations,
            "unavailable": unavailable,
        }


@contextmanager
def _resolved(database_name: str, connection: DatabaseConnection | None,
              workspace_dir: str | os.PathLike[str] | None) -> Iterator[tuple[DatabaseConnection | None, str | None]]:
    """``(connection, why not)`` for ``database_name``: the given one, a live one, else one opened from what is known.

    A connection opened here (its statements not recorded: they are not the
    application's workload) is closed when the block ends. ``why not`` is
    the sentence that says what to add (or why connecting failed), ``None``
    when there is a connection.
    """
    if connection is not None:
        yield connection, None
        return
    from dbkeeper.monitoring.recorder import live_connection

    live: DatabaseConnection | None = live_connection(database_name)
    if live is not None:
        yield live, None
        return
    from dbkeeper.errors import DbKeeperError
    from dbkeeper.monitoring.known_databases import how_to_make_known, resolve_named_database

    try:
        known = resolve_named_database(database_name, workspace_dir)
    except DbKeeperError as exc:
        yield None, f"cannot resolve {database_name!r}: {exc}"
        return
    if known is None:
        yield None, how_to_make_known(database_name)
        return
    url, source = known
    from dbkeeper.engine.connection import DatabaseConnection as Connection

    opened = Connection.from_url(url, name=database_name, connection_pool_size=1, max_overflow=1, max_retries=0,
                                 record_queries=False)
    try:
        opened.connect()
    except DbKeeperError as exc:
        yield None, (f"cannot connect to {database_name!r} ({url.render()}, from {source}): {exc}; a recorded URL "
                     "has no password, so give the server one it accepts (PGPASSWORD, ~/.pgpass, ~/.my.cnf) or add "
                     f"[connections.{database_name}] with the password as ${{VAR}} to dbkeeper.toml")
        return
    try:
        yield opened, None
    finally:
        opened.disconnect()


def _connection_use(native: dict[str, Any]) -> dict[str, Any]:
    """Connections in use against the server's limit (``None`` where the database does not say)."""
    total, limit = native.get("connections_total"), native.get("max_connections")
    return {"active": native.get("connections_active"), "idle": native.get("connections_idle"),
            "total": total, "max": limit,
            "ratio": round(int(total) / int(limit), 4) if total is not None and limit else None}


def _flush_process_recorder(workspace_dir: str | os.PathLike[str] | None) -> None:
    """Make this process's unflushed samples visible (only when they go to the same workspace)."""
    from dbkeeper.monitoring import recorder as recorder_module
    from dbkeeper.workspace import resolve_workspace

    rec = recorder_module._recorder
    if rec is not None and rec.pending and resolve_workspace(rec.workspace_dir) == resolve_workspace(workspace_dir):
        rec.flush_quietly()


def _metrics(database_name: str, analysis: QueryAnalysis, native: dict[str, Any],
             connection: DatabaseConnection | None, server: dict[str, Any] | None = None) -> DatabaseMetrics:
    """The metrics: the server's rates when it has them (the whole server's work), else the recorder's."""
    unavailable: dict[str, str] = {}
    reasons = native.get("unavailable", {}) if native else {}
    values: dict[str, Any] = {}
    for name in ("connections_active", "connections_idle", "cache_hit_ratio", "disk_io_mb"):
        value = native.get(name) if native else None
        if value is None:
            unavailable[name] = reasons.get(name) or ("needs a live connection" if connection is None
                                                      else "not reported by this dialect")
        values[name] = value
    qps, avg_ms = analysis.queries_per_second, analysis.avg_ms
    source = "recorder"
    rates = (server or {}).get("rates") or {}
    if rates.get("queries_per_second") is not None and (server or {}).get("window"):
        qps, source = float(rates["queries_per_second"]), str(server["source"])  # type: ignore[index]
        if rates.get("mean_latency_ms") is not None:
            avg_ms = float(rates["mean_latency_ms"])
        else:
            unavailable["average_query_time_ms"] = ("from the recorder: the server's source "
                                                    f"({server['source']}) has no statement timings")  # type: ignore[index]
    elif server is not None:
        unavailable["queries_per_second"] = (server.get("unavailable") or {}).get(
            "queries_per_second", "the server gave no statement rate") + "; the figure is the recorder's"
    return DatabaseMetrics(
        database_name=database_name,
        timestamp=datetime.now(UTC),
        queries_per_second=qps,
        average_query_time_ms=avg_ms,
        unavailable=unavailable,
        source=source,
        **values,
    )


def _alerts(query: dict[str, Any], metrics: dict[str, Any] | None,
            native: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    if query["samples"] and query["error_rate"] > ERROR_RATE_ALERT:
        alerts.append({"severity": "warning", "kind": "error_rate",
                       "message": f"{query['error_rate']:.1%} of {query['samples']} statements failed",
                       "value": query["error_rate"], "threshold": ERROR_RATE_ALERT})
    if query["samples"] and query["p95_ms"] > SLOW_P95_MS:
        alerts.append({"severity": "warning", "kind": "latency",
                       "message": f"p95 latency {query['p95_ms']:.1f} ms exceeds {SLOW_P95_MS:g} ms",
                       "value": query["p95_ms"], "threshold": SLOW_P95_MS})
    ratio = metrics.get("cache_hit_ratio") if metrics else None
    requests = (native or {}).get("cache_requests")
    # a cold cache (a fresh server, a new database) misses a lot: judge only after enough requests
    if ratio is not None and ratio < CACHE_HIT_ALERT and (requests is None or requests >= CACHE_MIN_REQUESTS):
        alerts.append({"severity": "warning", "kind": "cache_hit_ratio",
                       "message": f"cache hit ratio {ratio:.1%} is below {CACHE_HIT_ALERT:.0%}",
                       "value": ratio, "threshold": CACHE_HIT_ALERT})
    use = _connection_use(native or {})
    if use["ratio"] is not None and use["ratio"] >= SATURATION_ALERT:
        alerts.append({"severity": "warning", "kind": "connection_saturation",
                       "message": f"{use['total']} of {use['max']} connections in use",
                       "value": use["ratio"], "threshold": SATURATION_ALERT})
    return alerts


def monitor_database(database_name: str, workspace_dir: str | os.PathLike[str] | None = None, *,
                     connection: DatabaseConnection | None = None) -> dict[str, Any]:
    """Seed API: :meth:`DatabasePerformanceMonitor.analyze_database_performance` in one call.

    ``database_name`` alone is enough when dbkeeper knows the database (see
    the module doc); otherwise ``unavailable["native"]`` says what to add.
    """
    return DatabasePerformanceMonitor(workspace_dir).analyze_database_performance(database_name,
                                                                                  connection=connection)


def optimize_database(database_name: str, workspace_dir: str | os.PathLike[str] | None = None, *,
                      connection: DatabaseConnection | None = None) -> dict[str, Any]:
    """Seed API: :meth:`DatabasePerformanceMonitor.get_performance_report` in one call.

    The report's sections: ``query_performance``, ``database_performance``,
    ``alerts``, ``recommendations`` (each empty when there is nothing to
    say), plus ``database_name``, ``generated_at`` and ``unavailable`` (the
    checks that could not run, and why). Recommendations need the database
    itself (plans, catalog, native statistics): ``connection``, or the
    database dbkeeper resolves from the name (see the module doc); when it
    cannot, ``unavailable["recommendations"]`` says exactly what to add.
    """
    return DatabasePerformanceMonitor(workspace_dir).get_performance_report(database_name, connection=connection)
