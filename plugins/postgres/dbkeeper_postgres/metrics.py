"""PostgreSQL's native statistics: pg_stat_database, pg_stat_activity, pg_stat_statements.

What the role may not read is reported as ``None`` plus a reason: sessions of
other roles show a NULL ``state`` without ``pg_read_all_stats``, and
``pg_stat_statements`` needs the extension installed (and preloaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection

_DATABASE_COUNTERS = ("numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
                      "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "deadlocks", "temp_bytes")


def collect_metrics(connection: DatabaseConnection) -> dict[str, Any]:
    """Counters of the current database, session counts, cache hit ratio, top statements."""
    unavailable: dict[str, str] = {}
    metrics: dict[str, Any] = {"unavailable": unavailable}
    row = connection.execute(
        f"SELECT {', '.join(_DATABASE_COUNTERS)}, current_setting('block_size')::int AS block_size "
        "FROM pg_catalog.pg_stat_database WHERE datname = current_database()").first()
    if row is None:
        for key in (*_DATABASE_COUNTERS, "cache_hit_ratio", "disk_io_mb"):
            metrics[key] = None
            unavailable[key] = "pg_stat_database has no row for the current database"
    else:
        for key in _DATABASE_COUNTERS:
            metrics[key] = int(row[key]) if row[key] is not None else None
        hit, read = metrics["blks_hit"] or 0, metrics["blks_read"] or 0
        if hit + read:
            metrics["cache_hit_ratio"] = round(hit / (hit + read), 6)
        else:
            metrics["cache_hit_ratio"] = None
            unavailable["cache_hit_ratio"] = "no blocks were requested yet"
        metrics["disk_io_mb"] = round(read * int(row["block_size"]) / 1_048_576, 3)
    states = connection.execute(
        "SELECT state, COUNT(*) AS n FROM pg_catalog.pg_stat_activity "
        "WHERE datname = current_database() GROUP BY state").rows
    counts = {r["state"]: int(r["n"]) for r in states}
    hidden = counts.get(None, 0)
    metrics["connections_active"] = counts.get("active", 0)
    metrics["connections_idle"] = counts.get("idle", 0) + counts.get("idle in transaction", 0)
    if hidden:
        metrics["connections_hidden"] = hidden
        unavailable["connections_hidden"] = (f"{hidden} session(s) of other roles hide their state; "
                                             "grant pg_read_all_stats to see them")
    metrics.update(_statements(connection, unavailable))
    return metrics


def _statements(connection: DatabaseConnection, unavailable: dict[str, str]) -> dict[str, Any]:
    installed = connection.execute(
        "SELECT COUNT(*) FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'").scalar()
    if not installed:
        unavailable["pg_stat_statements"] = ("extension not installed: add it to shared_preload_libraries "
                                             "and run CREATE EXTENSION pg_stat_statements")
        return {"pg_stat_statements": None}
    try:
        rows = connection.execute(
            "SELECT query, calls, total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_catalog.pg_database "
            "WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 10").rows
    except DbKeeperError as exc:
        unavailable["pg_stat_statements"] = f"installed but not readable: {exc}"
        return {"pg_stat_statements": None}
    return {"pg_stat_statements": [{k: (float(v) if k.endswith("_ms") else v) for k, v in r.items()} for r in rows]}
