"""MySQL/MariaDB's own statistics for the monitor: what the server did, not only what dbkeeper sent.

Sources: ``performance_schema.events_statements_summary_by_digest`` (per
normalised statement of this schema, when ``performance_schema`` is ON;
timers are picoseconds), ``SHOW GLOBAL STATUS`` (``Questions``, ``Com_*``,
InnoDB buffer-pool reads and requests, deadlocks: always, server wide),
``information_schema.PROCESSLIST`` and ``INNODB_TRX`` (sessions) and
InnoDB's lock waits (``information_schema.INNODB_LOCK_WAITS`` on MariaDB,
``performance_schema.data_lock_waits`` on MySQL 8).

The digest text drops comments, so the monitor's own reads are recognised
by what they read (``performance_schema``, ``information_schema``, ``SHOW``)
and left out of the statement figures; ``Questions`` counts them, about ten
a reading, which the reading's ``own_counts`` lets the window subtract.
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
_STATUS = {
    "Questions": "queries", "Com_select": "selects", "Com_insert": "inserts", "Com_update": "updates",
    "Com_delete": "deletes", "Com_commit": "commits", "Com_rollback": "rollbacks",
    "Innodb_buffer_pool_read_requests": "cache_requests", "Innodb_buffer_pool_reads": "cache_reads",
    "Innodb_deadlocks": "deadlocks", "Innodb_row_lock_waits": "row_lock_waits", "Slow_queries": "slow_queries",
    "Aborted_connects": "aborted_connects", "Bytes_received": "bytes_received", "Bytes_sent": "bytes_sent",
    "Handler_commit": "handler_commits",
}
_GAUGES = {"Threads_connected": "connections", "Threads_running": "threads_running",
           "Max_used_connections": "max_used_connections", "Uptime": "uptime_seconds",
           "Innodb_row_lock_current_waits": "row_lock_current_waits"}
_OWN = ("performance_schema", "information_schema", "show global", "show status", "@@")
_ENABLE_PS = ["add performance_schema=ON under [mysqld] (or [mariadb]) in the server's config file",
              "restart the server",
              "GRANT SELECT ON performance_schema.* TO the monitoring user"]


class MySQLServerStats(ServerStats):
    """Reads statement digests, global status, the processlist and InnoDB lock waits."""

    source_names: ClassVar[tuple[str, ...]] = ("performance_schema", "global_status", "processlist",
                                               "innodb_lock_waits")

    def snapshot(self, connection: DatabaseConnection) -> dict[str, Any]:
        """One reading of the server (see :mod:`dbkeeper.monitoring.server_stats`)."""
        reading = empty_snapshot("global_status")
        session = CountingSession(connection)
        self._status(session, reading)
        self._digests(session, reading)
        self._processlist(session, reading)
        self._lock_waits(session, reading)
        # Questions counts SHOW GLOBAL STATUS itself and every later statement of this reading
        reading["own_counts"] = {"queries": session.statements, "selects": session.statements - 1}
        reading["ts"] = reading.pop("read_at", time.time())
        return reading

    def _status(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        names = ", ".join(f"'{n}'" for n in (*_STATUS, *_GAUGES))
        try:
            rows = connection.execute(f"{_T}SHOW GLOBAL STATUS WHERE Variable_name IN ({names})").rows
            limit = int(connection.execute(f"{_T}SELECT @@max_connections").scalar())
        except DbKeeperError as exc:
            reading["unavailable"]["global_status"] = f"SHOW GLOBAL STATUS failed: {exc}"
            return
        reading["read_at"] = time.time()
        values = {str(r["Variable_name"]): int(r["Value"]) for r in rows if str(r["Value"]).lstrip("-").isdigit()}
        counters = {portable: values[name] for name, portable in _STATUS.items() if name in values}
        if "commits" in counters and "rollbacks" in counters:
            counters["transactions"] = counters["commits"] + counters["rollbacks"]
        if "cache_requests" in counters and "cache_reads" in counters:
            counters["cache_hits"] = counters["cache_requests"] - counters["cache_reads"]
        reading["counters"] = counters
        gauges: dict[str, Any] = {portable: values[name] for name, portable in _GAUGES.items() if name in values}
        gauges["max_connections"] = limit
        uptime = gauges.get("uptime_seconds")
        reading["gauges"] = gauges
        reading["counters_reset"] = None if uptime is None else round(time.time() - uptime, -1)
        reading["sources"].append("global_status")
        reading["unavailable"].setdefault("transactions", "Com_commit + Com_rollback: explicit transactions only; "
                                                          "autocommit statements count under queries")

    def _digests(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        try:
            enabled = bool(connection.execute(f"{_T}SELECT @@performance_schema").scalar())
        except DbKeeperError as exc:
            enabled = False
            reading["unavailable"]["performance_schema"] = f"cannot read @@performance_schema: {exc}"
        if not enabled:
            reading["unavailable"].setdefault("performance_schema", "performance_schema is OFF")
            reading["notices"].append({
                "key": "performance_schema",
                "message": "performance_schema is OFF: no per-statement figures from the server; the rates are "
                           "SHOW GLOBAL STATUS deltas (server wide)",
                "steps": _ENABLE_PS})
            return
        try:
            rows = connection.execute(
                f"{_T}SELECT DIGEST AS digest, DIGEST_TEXT AS text, COUNT_STAR AS calls, "
                "SUM_TIMER_WAIT AS picoseconds, SUM_ROWS_SENT AS rows_sent, SUM_ROWS_AFFECTED AS rows_affected, "
                "SUM_ROWS_EXAMINED AS examined "
                "FROM performance_schema.events_statements_summary_by_digest "
                "WHERE SCHEMA_NAME = DATABASE() AND DIGEST IS NOT NULL").rows
        except DbKeeperError as exc:
            reading["unavailable"]["performance_schema"] = f"digest table not readable: {exc}"
            reading["notices"].append({"key": "performance_schema", "message": str(exc), "steps": _ENABLE_PS[2:]})
            return
        statements: dict[str, dict[str, Any]] = {}
        for r in rows:
            text = str(r["text"] or "")
            if any(own in text.lower() for own in _OWN):
                continue
            statements[str(r["digest"])] = {
                "query": fingerprint(text)[:2000], "calls": int(r["calls"]),
                "total_ms": int(r["picoseconds"]) / 1e9, "rows": int(r["rows_sent"]) + int(r["rows_affected"]),
                "rows_examined": int(r["examined"]), "blocks_hit": 0, "blocks_read": 0}
        reading["statements"] = statements
        # TRUNCATE of the digest table makes counts drop; each digest's own decrease is detected in the window
        reading["statements_reset"] = reading.get("counters_reset")
        reading["source"] = "performance_schema"
        reading["sources"].insert(0, "performance_schema")

    def _processlist(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        try:
            trx = {int(r["thread"]): r for r in connection.execute(
                f"{_T}SELECT trx_mysql_thread_id AS thread, trx_state AS state, "
                "TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS seconds FROM information_schema.INNODB_TRX").rows}
            rows = connection.execute(
                f"{_T}SELECT ID AS id, USER AS user, COMMAND AS command, TIME AS seconds, STATE AS state, "
                "INFO AS query FROM information_schema.PROCESSLIST "
                "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()").rows
        except DbKeeperError as exc:
            reading["unavailable"]["processlist"] = f"processlist not readable: {exc}"
            return
        counts = {"active": 0, "idle": 0, "idle_in_transaction": 0, "waiting": 0}
        longest, longest_xact = 0.0, 0.0
        listed = []
        for r in rows:
            session = int(r["id"])
            t = trx.get(session)
            if str(r["command"]) == "Query":
                counts["active"] += 1
                longest = max(longest, float(r["seconds"] or 0))
            elif t is not None:
                counts["idle_in_transaction"] += 1
            else:
                counts["idle"] += 1
            if t is not None:
                longest_xact = max(longest_xact, float(t["seconds"] or 0))
                if str(t["state"]) == "LOCK WAIT":
                    counts["waiting"] += 1
            listed.append({"pid": session, "user": r["user"], "state": str(r["command"]).lower(),
                           "wait": "Lock" if t is not None and str(t["state"]) == "LOCK WAIT" else None,
                           "seconds": float(r["seconds"] or 0),
                           "query": fingerprint(str(r["query"] or ""))[:300]})
        listed.sort(key=lambda s: s["seconds"], reverse=True)
        reading["sessions"] = {**counts, "longest_running_seconds": longest,
                               "longest_transaction_seconds": longest_xact, "list": listed[:50]}
        reading["sources"].append("processlist")

    def _lock_waits(self, connection: CountingSession, reading: dict[str, Any]) -> None:
        queries = (
            f"{_T}SELECT r.trx_mysql_thread_id AS pid, b.trx_mysql_thread_id AS blocker, r.trx_query AS query, "
            "b.trx_query AS blocking_query, TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) AS seconds "
            "FROM information_schema.INNODB_LOCK_WAITS w "
            "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id "
            "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id",
            f"{_T}SELECT r.trx_mysql_thread_id AS pid, b.trx_mysql_thread_id AS blocker, r.trx_query AS query, "
            "b.trx_query AS blocking_query, TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) AS seconds "
            "FROM performance_schema.data_lock_waits w "
            "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID "
            "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID")
        rows = None
        errors = []
        for sql in queries:
            try:
                rows = connection.execute(sql).rows
                break
            except DbKeeperError as exc:
                errors.append(str(exc))
        if rows is None:
            reading["unavailable"]["lock_waits"] = "; ".join(errors)
            return
        waits: dict[int, dict[str, Any]] = {}
        for r in rows:
            entry = waits.setdefault(int(r["pid"]), {
                "pid": int(r["pid"]), "blocking": [], "lock": "row lock", "seconds": float(r["seconds"] or 0),
                "query": fingerprint(str(r["query"] or ""))[:300], "blocking_queries": {}})
            entry["blocking"].append(int(r["blocker"]))
            entry["blocking_queries"][str(r["blocker"])] = fingerprint(str(r["blocking_query"] or ""))[:300]
        reading["lock_waits"] = list(waits.values())
        reading["sources"].append("innodb_lock_waits")
