"""PostgreSQL's own statistics for the monitor: what the server did, not only what dbkeeper sent.

Sources: ``pg_stat_statements`` (per normalised statement: calls, time,
rows, shared blocks hit and read; ``pg_stat_statements_info`` for its reset
time), ``pg_stat_database`` (transactions, blocks, deadlocks: the rates when
``pg_stat_statements`` is missing), ``pg_stat_activity`` (sessions) and
``pg_blocking_pids`` (who waits for whom), ``pg_database`` (transaction-ID
wraparound age). Every statement is tagged with
:data:`~dbkeeper.monitoring.server_stats.MONITOR_TAG` so the monitor's own
reads are left out of the statement figures. Query texts are
fingerprinted (literals replaced) before they leave this module.

Why ``pg_stat_database`` counts lag: since PostgreSQL 15 a backend flushes
its counters at most once a second while busy, so its transaction rates are
exact over windows of several seconds; ``pg_stat_statements`` counts in
shared memory at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.errors import DbKeeperError
from dbkeeper.monitoring.fingerprint import fingerprint
from dbkeeper.monitoring.server_stats import MONITOR_TAG, CountingSession, ServerStats, empty_snapshot

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection

_T = MONITOR_TAG


def enable_steps(preload: str) -> list[str]:
    """The exact steps that make ``pg_stat_statements`` readable, from the current ``shared_preload_libraries``."""
    libraries = [lib.strip() for lib in preload.split(",") if lib.strip()]
    steps = []
    if "pg_stat_statements" not in libraries:
        wanted = ", ".join([*libraries, "pg_stat_statements"])
        steps += [f"ALTER SYSTEM SET shared_preload_libraries = '{wanted}';  -- as a superuser",
                  "restart the server (e.g. pg_ctlcluster 15 main restart, or systemctl restart postgresql)"]
    steps.append("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;  -- in this database")
    return steps


class PostgresServerStats(ServerStats):
    """Reads ``pg_stat_statements``, ``pg_stat_database``, ``pg_stat_activity`` and lock waits."""

    source_names: ClassVar[tuple[str, ...]] = ("pg_stat_statements", "pg_stat_database", "pg_stat_activity",
                                               "pg_blocking_pids")

    def snapshot(self, connection: DatabaseConnection) -> dict[str, Any]:
        """One reading of the server (see :mod:`dbkeeper.monitoring.server_stats`)."""
        reading = empty_snapshot("pg_stat_database")
        session = CountingSession(connection)
        self._database(session, reading)
        self._statements(session, reading)
        self._activity(session, reading)
        self._lock_waits(session, reading)
        reading["ts"] = reading.pop("read_at", time.time())
        # each statement of the reading is a transaction of its own (autocommit) in xact_commit
        reading["own_counts"] = {"transactions": session.statements, "commits": session.statements}
        return reading

    # -- pg_stat_database and server-wide gauges ---------------------------------------------------------
    def _database(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        row = connection.execute(
            f"{_T}SELECT xact_commit, xact_rollback, blks_hit, blks_read, deadlocks, tup_returned, tup_fetched, "
            "tup_inserted, tup_updated, tup_deleted, temp_bytes, numbackends, "
            "extract(epoch FROM stats_reset)::float8 AS stats_reset, "
            "extract(epoch FROM pg_postmaster_start_time())::float8 AS started, "
            "current_setting('max_connections')::int AS max_connections, "
            "current_setting('superuser_reserved_connections')::int AS reserved, "
            "(SELECT COUNT(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend') AS clients, "
            "(SELECT max(age(datfrozenxid)) FROM pg_catalog.pg_database) AS xid_age, "
            "age((SELECT datfrozenxid FROM pg_catalog.pg_database WHERE datname = current_database())) AS db_xid_age, "
            "pg_catalog.pg_database_size(current_database()) AS size_bytes, "
            "current_setting('shared_buffers') AS shared_buffers "
            "FROM pg_catalog.pg_stat_database WHERE datname = current_database()").first()
        if row is None:  # pragma: no cover - the current database always has a row
            reading["unavailable"]["pg_stat_database"] = "no row for the current database"
            return
        reading["sources"].append("pg_stat_database")
        reading["read_at"] = time.time()
        commits, rollbacks = int(row["xact_commit"]), int(row["xact_rollback"])
        reading["counters"] = {
            "transactions": commits + rollbacks, "commits": commits, "rollbacks": rollbacks,
            "cache_hits": int(row["blks_hit"]), "cache_reads": int(row["blks_read"]),
            "deadlocks": int(row["deadlocks"]), "rows_returned": int(row["tup_returned"]),
            "rows_fetched": int(row["tup_fetched"]), "rows_inserted": int(row["tup_inserted"]),
            "rows_updated": int(row["tup_updated"]), "rows_deleted": int(row["tup_deleted"]),
            "temp_bytes": int(row["temp_bytes"]),
        }
        reading["counters_reset"] = f"{row['stats_reset']}/{row['started']}"
        reading["gauges"] = {
            "connections": int(row["clients"]), "database_connections": int(row["numbackends"]),
            "max_connections": int(row["max_connections"]) - int(row["reserved"]),
            "xid_wraparound_age": int(row["xid_age"]), "database_xid_age": int(row["db_xid_age"]),
            "database_size_bytes": int(row["size_bytes"]), "server_started": float(row["started"]),
            "stats_reset": row["stats_reset"], "shared_buffers": str(row["shared_buffers"]),
        }

    # -- pg_stat_statements ------------------------------------------------------------------------------
    def _statements(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        preload = str(connection.execute(f"{_T}SELECT current_setting('shared_preload_libraries')").scalar() or "")
        schema = connection.execute(
            f"{_T}SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'").scalar()
        loaded = "pg_stat_statements" in [lib.strip() for lib in preload.split(",")]
        if schema is None or not loaded:
            why = ("pg_stat_statements is not in shared_preload_libraries" if not loaded
                   else "the pg_stat_statements extension is not created in this database")
            reading["unavailable"]["pg_stat_statements"] = why
            reading["notices"].append({
                "key": "pg_stat_statements",
                "message": f"{why}: per-statement figures show only what dbkeeper itself ran (the recorder), and "
                           "the rates are transactions from pg_stat_database",
                "steps": enable_steps(preload)})
            return
        view = f"{connection.dialect.quote_identifier(str(schema))}.pg_stat_statements"
        version = int(connection.execute(f"{_T}SELECT current_setting('server_version_num')::int").scalar())
        total = "total_exec_time" if version >= 130000 else "total_time"
        try:
            rows = connection.execute(
                f"{_T}SELECT userid::text || '/' || queryid::text AS key, query, calls, {total} AS total_ms, rows, "
                f"shared_blks_hit, shared_blks_read FROM {view} "
                "WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
                "AND queryid IS NOT NULL").rows
            reset = None
            if version >= 140000:
                info = connection.execute(
                    f"{_T}SELECT extract(epoch FROM stats_reset)::float8 AS reset, dealloc "
                    f"FROM {connection.dialect.quote_identifier(str(schema))}.pg_stat_statements_info").first()
                reset = None if info is None else info["reset"]
        except DbKeeperError as exc:
            reading["unavailable"]["pg_stat_statements"] = f"installed but not readable: {exc}"
            return
        reading["read_at"] = time.time()  # the window's edge: when the statement counters were read
        statements: dict[str, dict[str, Any]] = {}
        hidden = 0
        for r in rows:
            text = str(r["query"] or "")
            if text.startswith(_T.strip()):
                continue  # the monitor's own reads
            if text == "<insufficient privilege>":
                hidden += 1
                continue
            statements[str(r["key"])] = {"query": fingerprint(text)[:2000], "calls": int(r["calls"]),
                                         "total_ms": float(r["total_ms"]), "rows": int(r["rows"]),
                                         "blocks_hit": int(r["shared_blks_hit"]),
                                         "blocks_read": int(r["shared_blks_read"])}
        if hidden:
            reading["unavailable"]["pg_stat_statements_hidden"] = (
                f"{hidden} statement(s) of other roles hide their text; grant pg_read_all_stats to see them")
        reading["statements"] = statements
        reading["statements_reset"] = f"{reset}/{reading['gauges'].get('server_started')}"
        reading["source"] = "pg_stat_statements"
        reading["sources"].insert(0, "pg_stat_statements")

    # -- pg_stat_activity and lock waits -----------------------------------------------------------------
    def _activity(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        rows = connection.execute(
            f"{_T}SELECT pid, usename, state, wait_event_type, query, "
            "extract(epoch FROM now() - query_start)::float8 AS query_seconds, "
            "extract(epoch FROM now() - xact_start)::float8 AS xact_seconds "
            "FROM pg_catalog.pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").rows
        reading["sources"].append("pg_stat_activity")
        counts = {"active": 0, "idle": 0, "idle_in_transaction": 0, "waiting": 0, "hidden": 0}
        longest, longest_xact = 0.0, 0.0
        listed = []
        for r in rows:
            state = r["state"]
            if state is None:
                counts["hidden"] += 1
                continue
            key = "idle_in_transaction" if str(state).startswith("idle in transaction") else str(state)
            counts[key] = counts.get(key, 0) + 1
            if r["wait_event_type"] == "Lock":
                counts["waiting"] += 1
            if state == "active":
                longest = max(longest, float(r["query_seconds"] or 0.0))
            longest_xact = max(longest_xact, float(r["xact_seconds"] or 0.0))
            listed.append({"pid": int(r["pid"]), "user": r["usename"], "state": state,
                           "wait": r["wait_event_type"],
                           "seconds": round(float(r["query_seconds"] or 0.0), 3),
                           "query": fingerprint(str(r["query"] or ""))[:300]})
        listed.sort(key=lambda s: s["seconds"], reverse=True)
        reading["sessions"] = {**counts, "longest_running_seconds": round(longest, 3),
                               "longest_transaction_seconds": round(longest_xact, 3), "list": listed[:50]}
        if counts["hidden"]:
            reading["unavailable"]["sessions_hidden"] = (f"{counts['hidden']} session(s) of other roles hide their "
                                                         "state; grant pg_read_all_stats to see them")

    def _lock_waits(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        rows = connection.execute(
            f"{_T}SELECT w.pid, pg_catalog.pg_blocking_pids(w.pid) AS blocking, w.query, "
            "extract(epoch FROM now() - w.state_change)::float8 AS seconds, w.wait_event "
            "FROM pg_catalog.pg_stat_activity w WHERE w.datname = current_database() "
            "AND w.wait_event_type = 'Lock'").rows
        reading["sources"].append("pg_blocking_pids")
        waits = []
        for r in rows:
            blocking = [int(p) for p in (r["blocking"] or [])]
            if not blocking:
                continue
            queries = connection.execute(
                f"{_T}SELECT pid, query FROM pg_catalog.pg_stat_activity WHERE pid = ANY(?)", (blocking,)).rows
            waits.append({"pid": int(r["pid"]), "blocking": blocking, "lock": r["wait_event"],
                          "seconds": round(float(r["seconds"] or 0.0), 3),
                          "query": fingerprint(str(r["query"] or ""))[:300],
                          "blocking_queries": {str(q["pid"]): fingerprint(str(q["query"] or ""))[:300]
                                               for q in queries}})
        reading["lock_waits"] = waits

    # -- HypoPG --------------------------------------------------------------------------------------------
    def hypothetical_index_cost(self, connection: DatabaseConnection, create_index_sql: str,
                                statement: str, params: list[Any]) -> dict[str, Any] | None:
        """The planner's total cost of ``statement`` without and with the index, through HypoPG.

        ``None`` when HypoPG is not available (then the advice rests on the
        plan alone). ``CONCURRENTLY`` is removed: HypoPG takes a plain
        ``CREATE INDEX``. The hypothetical index lives in this session only
        and is reset at once.
        """
        from dbkeeper.monitoring.recorder import unrecorded

        with unrecorded(connection):
            available = connection.execute(
                f"{_T}SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'hypopg'").scalar()
            if available is None:
                return None
            costs: list[float] = []
            try:
                with connection.transaction():  # rolled back: neither the extension nor the index stays
                    connection.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
                    costs.append(_plan_cost(connection, statement, params))
                    connection.execute(f"{_T}SELECT * FROM hypopg_create_index(?)",
                                       (create_index_sql.replace(" CONCURRENTLY", ""),))
                    costs.append(_plan_cost(connection, statement, params))
                    raise _RollBack
            except _RollBack:
                pass
            except DbKeeperError as exc:
                return {"error": f"HypoPG could not evaluate the index: {exc}"}
        before, after = costs
        return {"tool": "hypopg", "cost_before": before, "cost_after": after,
                "improvement": round(1 - after / before, 4) if before else None}


class _RollBack(Exception):
    """Ends the HypoPG transaction by rolling it back."""


def _plan_cost(connection: DatabaseConnection, statement: str, params: list[Any]) -> float:
    rows = connection.execute(f"EXPLAIN (FORMAT JSON) {statement}", tuple(params)).rows
    plan = next(iter(rows[0].values()))
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Total Cost"])
