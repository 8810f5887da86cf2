"""MySQL/MariaDB native statistics for dbkeeper's monitoring and advisor.

Sources: ``SHOW GLOBAL STATUS`` (a subset: threads, questions, InnoDB buffer
pool and data counters), ``@@max_connections``, ``information_schema``
(``PROCESSLIST`` and ``INNODB_TRX`` for sessions, ``TABLES`` for row counts
and free space), ``mysql.innodb_table_stats`` (the persisted planner
statistics) and ``performance_schema`` (statement digests, index usage) when
it is enabled.

Status variables a server does not have (versions differ) or a role may not
read are ``None`` with a reason. Session query texts are fingerprinted so
literals (and any secret they carry) never reach a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

_STATUS = ("Threads_connected", "Threads_running", "Questions", "Uptime", "Slow_queries",
           "Innodb_buffer_pool_read_requests", "Innodb_buffer_pool_reads", "Innodb_data_read",
           "Innodb_data_written", "Created_tmp_disk_tables", "Select_full_join", "Select_scan")
#: Cumulative counters (lower-cased keys); rates come from two snapshots.
_COUNTERS = ("questions", "slow_queries", "innodb_buffer_pool_read_requests", "innodb_buffer_pool_reads",
             "innodb_data_read", "innodb_data_written", "created_tmp_disk_tables", "select_full_join",
             "select_scan")
_NO_PS = "performance_schema is OFF: set performance_schema=ON in the server config and restart"
_GRANT_PS = "GRANT SELECT ON performance_schema.* to this user to read it"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def collect_metrics(connection: Session) -> dict[str, Any]:
    """Global status counters, derived ratios, sessions, table and index statistics."""
    unavailable: dict[str, str] = {}
    metrics: dict[str, Any] = {"unavailable": unavailable, "counters": list(_COUNTERS)}
    names = ", ".join(f"'{name}'" for name in _STATUS)
    try:
        rows = connection.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})").rows
    except DbKeeperError as exc:
        rows = []
        unavailable["status"] = f"SHOW GLOBAL STATUS failed: {exc}"
    status = {_text(r["Variable_name"]): int(_text(r["Value"])) for r in rows}
    for name in _STATUS:
        key = name.lower()
        metrics[key] = status.get(name)
        if metrics[key] is None:
            unavailable[key] = "not reported by this server"
    requests, reads = status.get("Innodb_buffer_pool_read_requests"), status.get("Innodb_buffer_pool_reads")
    metrics["cache_requests"] = requests
    if requests:
        metrics["cache_hit_ratio"] = round(1 - (reads or 0) / requests, 6)
    else:
        metrics["cache_hit_ratio"] = None
        unavailable["cache_hit_ratio"] = "InnoDB buffer pool counters unavailable or no reads yet"
    if "Innodb_data_read" in status and "Innodb_data_written" in status:
        metrics["disk_io_mb"] = round((status["Innodb_data_read"] + status["Innodb_data_written"]) / 1_048_576, 3)
    else:
        metrics["disk_io_mb"] = None
        unavailable["disk_io_mb"] = "InnoDB data counters not reported"
    if "Threads_connected" in status and "Threads_running" in status:
        metrics["connections_active"] = status["Threads_running"]
        metrics["connections_idle"] = status["Threads_connected"] - status["Threads_running"]
    else:
        metrics["connections_active"] = metrics["connections_idle"] = None
        unavailable["connections_active"] = unavailable["connections_idle"] = "thread counters not reported"
    metrics["connections_total"] = status.get("Threads_connected")
    settings = connection.execute("SELECT @@max_connections AS max_connections, "
                                  "@@innodb_buffer_pool_size AS pool").first()
    metrics["max_connections"] = int(settings["max_connections"]) if settings else None
    metrics["cache_size_bytes"] = int(settings["pool"]) if settings else None
    # ``uptime`` going down means the server restarted (the rate computation checks it): every
    # counter started again from zero.
    metrics["performance_schema_digests"] = _digests(connection, unavailable)
    _top_digests(connection, metrics, unavailable)
    _sessions(connection, metrics, unavailable)
    _tables(connection, metrics, unavailable)
    _indexes(connection, metrics, unavailable)
    return metrics


def _digests(connection: Session, unavailable: dict[str, str]) -> bool | None:
    try:
        enabled = connection.execute("SELECT @@performance_schema").scalar()
    except DbKeeperError as exc:
        unavailable["performance_schema_digests"] = f"cannot read @@performance_schema: {exc}"
        return None
    if not int(enabled or 0):
        unavailable["performance_schema_digests"] = _NO_PS
        return None
    try:
        connection.execute("SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest").scalar()
    except DbKeeperError as exc:
        unavailable["performance_schema_digests"] = f"digest table not readable ({exc}); {_GRANT_PS}"
        return None
    return True


def _top_digests(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """The schema's ten statement digests with the most total time (performance_schema timers are picoseconds)."""
    if not metrics.get("performance_schema_digests"):
        metrics["statement_digests"] = None
        unavailable["statement_digests"] = unavailable.get("performance_schema_digests", _NO_PS)
        return
    try:
        rows = connection.execute(
            "SELECT DIGEST_TEXT AS query, COUNT_STAR AS calls, SUM_TIMER_WAIT / 1e9 AS total_ms, "
            "AVG_TIMER_WAIT / 1e9 AS mean_ms, SUM_ROWS_EXAMINED AS rows_examined "
            "FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = DATABASE() "
            "ORDER BY SUM_TIMER_WAIT DESC LIMIT 10").rows
    except DbKeeperError as exc:
        metrics["statement_digests"] = None
        unavailable["statement_digests"] = f"digest table not readable ({exc}); {_GRANT_PS}"
        return
    metrics["statement_digests"] = [
        {"query": _text(r["query"]) if r["query"] is not None else "", "calls": int(r["calls"] or 0),
         "total_ms": float(r["total_ms"] or 0), "mean_ms": float(r["mean_ms"] or 0),
         "rows_examined": int(r["rows_examined"] or 0)} for r in rows]


def _sessions(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Sessions of this schema: running statements and idle open transactions (needs PROCESS for others')."""
    from dbkeeper.monitoring.fingerprint import fingerprint

    try:
        transactions = {int(r["thread"]): float(r["seconds"]) for r in connection.execute(
            "SELECT trx_mysql_thread_id AS thread, TIMESTAMPDIFF(MICROSECOND, trx_started, NOW()) / 1e6 AS seconds "
            "FROM information_schema.INNODB_TRX").rows}
    except DbKeeperError as exc:
        metrics["sessions"] = None
        unavailable["sessions"] = (f"information_schema.INNODB_TRX is not readable ({exc}); grant PROCESS "
                                   "to see other sessions and their transactions")
        return
    rows = connection.execute(
        "SELECT ID AS id, USER AS user, COMMAND AS command, TIME AS seconds, INFO AS info "
        "FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()").rows
    sessions: list[dict[str, Any]] = []
    for r in rows:
        command = _text(r["command"])
        thread = int(r["id"])
        if command == "Query":
            state = "active"
        elif command == "Sleep":
            state = "idle in transaction" if thread in transactions else "idle"
        else:
            continue
        seconds = float(r["seconds"] or 0)
        sessions.append({"id": thread, "user": _text(r["user"]), "state": state, "seconds": seconds,
                         "transaction_seconds": transactions.get(thread),
                         "query": fingerprint(_text(r["info"]))[:500] if r["info"] is not None else ""})
    metrics["sessions"] = sessions
    metrics["sessions_hidden"] = 0


def _tables(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Row counts, the planner's persisted row estimate and free space of every InnoDB table of the schema."""
    try:
        connection.execute("SET SESSION information_schema_stats_expiry = 0")  # MySQL 8 caches TABLES otherwise
    except DbKeeperError:
        pass  # MariaDB has no such cache
    rows = connection.execute(
        "SELECT TABLE_NAME AS tbl, TABLE_ROWS AS table_rows, DATA_LENGTH AS data_length, "
        "INDEX_LENGTH AS index_length, DATA_FREE AS data_free FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND ENGINE = 'InnoDB' "
        "ORDER BY TABLE_NAME").rows
    persisted: dict[str, tuple[int, float | None]] | None
    try:
        persisted = {_text(r["tbl"]): (int(r["n_rows"]), None if r["updated"] is None else float(r["updated"]))
                     for r in connection.execute(
                         "SELECT table_name AS tbl, n_rows, UNIX_TIMESTAMP(last_update) AS updated "
                         "FROM mysql.innodb_table_stats WHERE database_name = DATABASE()").rows}
    except DbKeeperError as exc:
        persisted = None
        unavailable["planner_statistics"] = f"mysql.innodb_table_stats is not readable: {exc}"
    stats: list[dict[str, Any]] = []
    for r in rows:
        name = _text(r["tbl"])
        entry: dict[str, Any] = {
            "table": name, "live_rows": int(r["table_rows"] or 0), "dead_rows": None,
            "data_bytes": int(r["data_length"] or 0) + int(r["index_length"] or 0),
            "free_bytes": int(r["data_free"] or 0),
        }
        if persisted is not None:
            known = persisted.get(name)
            entry["estimated_rows"] = known[0] if known else None
            entry["last_analyzed"] = known[1] if known else None
            entry["persistent_statistics"] = known is not None
        stats.append(entry)
    metrics["table_stats"] = stats


def _indexes(connection: Session, metrics: dict[str, Any], unavailable: dict[str, str]) -> None:
    """Index usage from performance_schema: rows read through each index since the table's counters began.

    They begin at server start, and MariaDB may start them again after an
    ALTER TABLE. ``table_reads`` (rows read from the table through any index
    or a scan) tells the advisor whether the table was read at all since:
    without a read, an index's zero is no evidence that reads do not use it.
    """
    if not metrics.get("performance_schema_digests"):
        metrics["index_usage"] = None
        unavailable["index_usage"] = unavailable.get("performance_schema_digests", _NO_PS)
        return
    try:
        rows = connection.execute(
            "SELECT u.OBJECT_NAME AS tbl, u.INDEX_NAME AS idx, u.COUNT_STAR AS scans, "
            "MAX(s.NON_UNIQUE) AS non_unique, r.table_reads "
            "FROM performance_schema.table_io_waits_summary_by_index_usage u "
            "JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = u.OBJECT_SCHEMA "
            "AND s.TABLE_NAME = u.OBJECT_NAME AND s.INDEX_NAME = u.INDEX_NAME "
            "JOIN (SELECT OBJECT_NAME, SUM(COUNT_FETCH) AS table_reads "
            "FROM performance_schema.table_io_waits_summary_by_index_usage "
            "WHERE OBJECT_SCHEMA = DATABASE() GROUP BY OBJECT_NAME) r ON r.OBJECT_NAME = u.OBJECT_NAME "
            "WHERE u.OBJECT_SCHEMA = DATABASE() AND u.INDEX_NAME IS NOT NULL "
            "GROUP BY u.OBJECT_NAME, u.INDEX_NAME, u.COUNT_STAR, r.table_reads").rows
    except DbKeeperError as exc:
        metrics["index_usage"] = None
        unavailable["index_usage"] = f"performance_schema index statistics not readable ({exc}); {_GRANT_PS}"
        return
    metrics["index_usage"] = [{"table": _text(r["tbl"]), "index": _text(r["idx"]), "scans": int(r["scans"] or 0),
                               "unique": not int(r["non_unique"] or 0), "primary": _text(r["idx"]) == "PRIMARY",
                               "size_bytes": None, "table_reads": int(r["table_reads"] or 0)} for r in rows]
