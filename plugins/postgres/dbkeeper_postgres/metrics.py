"""PostgreSQL's native statistics for dbkeeper's monitoring and advisor.

Sources: ``pg_stat_database`` (transactions, block hits and reads, the reset
time), ``pg_stat_activity`` (sessions: long-running queries, idle
transactions, saturation against ``max_connections``), ``pg_stat_user_tables``
and ``pg_class`` (live and dead rows, modifications since the last ANALYZE),
``pg_statio_user_tables`` (per-table cache hits), ``pg_stat_user_indexes``
(index scans) and ``pg_stat_statements`` when it is installed and loaded.

What the role may not read is reported as ``None`` plus a reason: sessions of
other roles show a NULL ``state`` without ``pg_read_all_stats``, and
``pg_stat_statements`` needs the extension installed (and preloaded). Query
texts of sessions are fingerprinted (literals replaced by ``?``) so no
secret a statement carries reaches a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

_DATABASE_COUNTERS = ("numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
                      "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "deadlocks", "temp_bytes")
#: Cumulative counters (rates come from two snapshots); ``numbackends`` is a gauge.
_COUNTERS = tuple(name for name in _DATABASE_COUNTERS if name != "numbackends")
_HIDDEN = "grant pg_read_all_stats (or connect as a superuser) to see them"


def collect_metrics(connection: Session) -> dict[str, Any]:
    """Counters, sessions, table and index statistics, cache hit ratio, top statements."""
    unavailable: dict[str, str] = {}
    metrics: dict[str, Any] = {"unavailable": unavailable, "counters": list(_COUNTERS)}
    row = connection.execute(
        f"SELECT {', '.join(_DATABASE_COUNTERS)}, current_setting('block_size')::int AS block_size, "
        "extract(epoch FROM stats_reset)::float8 AS stats_reset, "
        "extract(epoch FROM pg_postmaster_start_time())::float8 AS server_started, "
        "pg_catalog.pg_size_bytes(current_setting('shared_buffers')) AS cache_bytes "
        "FROM pg_catalog.pg_stat_database WHERE datname = current_database()").first()
    if row is None:
        for key in (*_DATABASE_COUNTERS, "cache_hit_ratio", "disk_io_mb"):
            metrics[key] = None
            unavailable[key] = "pg_stat_database has no row for the current database"
    else:
        for key in _DATABASE_COUNTERS:
            metrics[key] = int(row[key]) if row[key] is not None else None
        hit, read = metrics["blks_hit"] or 0, metrics["blks_read"] or 0
        metrics["cache_requests"] = hit + read
        if hit + read:
            metrics["cache_hit_ratio"] = round(hit / (hit + read), 6)
        else:
            metrics["cache_hit_ratio"] = None
            unavailable["cache_hit_ratio"] = "no blocks were requested yet"
        metrics["disk_io_mb"] = round(read * int(row["block_size"]) / 1_048_576, 3)
        metrics["stats_reset"] = row["stats_reset"]
        if row["stats_reset"] is None:
            unavailable["stats_reset"] = "the statistics were never reset: they count since the server's first start"
        metrics["cache_size_bytes"] = int(row["cache_bytes"])
        # A changed reset time or server start means every counter restarted from zero.
        metrics["reset_marker"] = f"{row['stats_reset']}/{row['server_started']}"
    _sessions(connection, metrics, unavailable)
    _tables(connection, metrics, unavailable)
    _indexes(connection, metrics, unavailable)
    metrics.update(_statements(connection, unavailable))
    return metrics


def _sessions(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Session counts, saturation inputs and the sessions worth a look (long queries, idle transactions)."""
    from dbkeeper.monitoring.fingerprint import fingerprint

    limits = connection.execute(
        "SELECT current_setting('max_connections')::int AS max_connections, "
        "current_setting('superuser_reserved_connections')::int AS reserved, "
        "(SELECT COUNT(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend' "
        "OR backend_type IS NULL) AS total"
    ).first()
    assert limits is not None
    metrics["max_connections"] = int(limits["max_connections"]) - int(limits["reserved"])
    metrics["connections_total"] = int(limits["total"])
    rows = connection.execute(
        "SELECT pid, usename, state, query, "
        "extract(epoch FROM now() - query_start)::float8 AS query_seconds, "
        "extract(epoch FROM now() - state_change)::float8 AS state_seconds, "
        "extract(epoch FROM now() - xact_start)::float8 AS xact_seconds "
        "FROM pg_catalog.pg_stat_activity WHERE datname = current_database() "
        # without pg_read_all_stats, other roles' sessions show NULL for backend_type and state
        "AND (backend_type = 'client backend' OR backend_type IS NULL) AND pid <> pg_backend_pid()").rows
    counts: dict[str | None, int] = {}
    sessions: list[dict[str, Any]] = []
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        if r["state"] is None:
            continue
        seconds = r["query_seconds"] if r["state"] == "active" else r["state_seconds"]
        xact = r["xact_seconds"]
        sessions.append({"id": int(r["pid"]), "user": r["usename"], "state": r["state"],
                         "seconds": round(float(seconds or 0.0), 3),
                         "transaction_seconds": None if xact is None else round(float(xact), 3),
                         "query": fingerprint(str(r["query"] or ""))[:500]})
    own_active = 1  # this very session runs the statistics queries
    metrics["connections_active"] = counts.get("active", 0) + own_active
    metrics["connections_idle"] = counts.get("idle", 0) + counts.get("idle in transaction", 0) + counts.get(
        "idle in transaction (aborted)", 0)
    metrics["sessions"] = sessions
    hidden = counts.get(None, 0)
    metrics["sessions_hidden"] = hidden
    if hidden:
        unavailable["sessions_hidden"] = f"{hidden} session(s) of other roles hide their state; {_HIDDEN}"


def _tables(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Row counts, dead rows, modifications since ANALYZE, and per-table cache hits of the visible schemas."""
    rows = connection.execute(
        "SELECT s.relname AS table, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, c.reltuples, "
        "extract(epoch FROM GREATEST(s.last_analyze, s.last_autoanalyze))::float8 AS last_analyzed, "
        "io.heap_blks_read, io.heap_blks_hit "
        "FROM pg_catalog.pg_stat_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid "
        "LEFT JOIN pg_catalog.pg_statio_user_tables io ON io.relid = s.relid "
        "WHERE s.schemaname = ANY (pg_catalog.current_schemas(false)) ORDER BY s.relname").rows
    metrics["table_stats"] = [{
        "table": r["table"],
        "live_rows": int(r["n_live_tup"] or 0),
        "dead_rows": int(r["n_dead_tup"] or 0),
        "modified_since_analyze": int(r["n_mod_since_analyze"] or 0),
        # reltuples is -1 until the first ANALYZE (or VACUUM) of the table
        "estimated_rows": None if r["reltuples"] is None or float(r["reltuples"]) < 0 else int(r["reltuples"]),
        "last_analyzed": r["last_analyzed"],
        "blocks_read": None if r["heap_blks_read"] is None else int(r["heap_blks_read"]),
        "blocks_hit": None if r["heap_blks_hit"] is None else int(r["heap_blks_hit"]),
    } for r in rows]


def _indexes(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Scans per index since the statistics were reset (the unused-index rule's evidence)."""
    rows = connection.execute(
        "SELECT s.relname AS table, s.indexrelname AS index, s.idx_scan, i.indisunique, i.indisprimary, "
        "pg_catalog.pg_relation_size(s.indexrelid) AS size_bytes "
        "FROM pg_catalog.pg_stat_user_indexes s JOIN pg_catalog.pg_index i ON i.indexrelid = s.indexrelid "
        "WHERE s.schemaname = ANY (pg_catalog.current_schemas(false)) ORDER BY s.relname, s.indexrelname").rows
    metrics["index_usage"] = [{"table": r["table"], "index": r["index"], "scans": int(r["idx_scan"] or 0),
                               "unique": bool(r["indisunique"]), "primary": bool(r["indisprimary"]),
                               "size_bytes": int(r["size_bytes"] or 0)} for r in rows]


def _statements(connection: Session, unavailable: dict[str, str]) -> dict[str, Any]:
    """The database's ten statements with the most total time, from ``pg_stat_statements``.

    The view is read in the schema the extension was created in, which need
    not be on the search path. A role without ``pg_read_all_stats`` sees other
    roles' statements as ``<insufficient privilege>``: they are counted in
    ``pg_stat_statements_hidden`` with the reason, not listed as a statement.
    """
    schema = connection.execute(
        "SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
        "ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'").scalar()
    if schema is None:
        unavailable["pg_stat_statements"] = ("extension not installed: add it to shared_preload_libraries "
                                             "and run CREATE EXTENSION pg_stat_statements")
        return {"pg_stat_statements": None}
    view = f"{connection.dialect.quote_identifier(str(schema))}.pg_stat_statements"
    this_database = "dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
    try:
        rows = connection.execute(
            f"SELECT query, calls, total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows FROM {view} "
            f"WHERE {this_database} AND query <> '<insufficient privilege>' "
            "ORDER BY total_exec_time DESC LIMIT 10").rows
        hidden = int(connection.execute(
            f"SELECT COUNT(*) FROM {view} WHERE {this_database} AND query = '<insufficient privilege>'").scalar())
    except DbKeeperError as exc:
        unavailable["pg_stat_statements"] = f"installed but not readable: {exc}"
        return {"pg_stat_statements": None}
    from dbkeeper.monitoring.fingerprint import fingerprint

    if hidden:
        unavailable["pg_stat_statements_hidden"] = f"{hidden} statement(s) of other roles hide their text; {_HIDDEN}"
    return {"pg_stat_statements_hidden": hidden, "pg_stat_statements": [
        {k: (float(v) if k.endswith("_ms") else fingerprint(str(v)) if k == "query" else v) for k, v in r.items()}
        for r in rows]}
