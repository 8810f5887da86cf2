"""MySQL/MariaDB native statistics: a SHOW GLOBAL STATUS subset, buffer pool hit ratio,
performance_schema digest availability.

Status variables a server does not have (versions differ) or a role may not
read are ``None`` with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection

_STATUS = ("Threads_connected", "Threads_running", "Questions", "Uptime", "Slow_queries",
           "Innodb_buffer_pool_read_requests", "Innodb_buffer_pool_reads", "Innodb_data_read",
           "Innodb_data_written", "Created_tmp_disk_tables", "Select_full_join", "Select_scan")


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def collect_metrics(connection: DatabaseConnection) -> dict[str, Any]:
    """Global status counters plus the derived ``cache_hit_ratio``, ``disk_io_mb`` and session counts."""
    unavailable: dict[str, str] = {}
    metrics: dict[str, Any] = {"unavailable": unavailable}
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
    metrics["performance_schema_digests"] = _digests(connection, unavailable)
    return metrics


def _digests(connection: DatabaseConnection, unavailable: dict[str, str]) -> bool | None:
    try:
        enabled = connection.execute("SELECT @@performance_schema").scalar()
    except DbKeeperError as exc:
        unavailable["performance_schema_digests"] = f"cannot read @@performance_schema: {exc}"
        return None
    if not int(enabled or 0):
        unavailable["performance_schema_digests"] = ("performance_schema is OFF: set performance_schema=ON "
                                                     "in the server config and restart")
        return None
    try:
        connection.execute("SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest").scalar()
    except DbKeeperError as exc:
        unavailable["performance_schema_digests"] = f"digest table not readable: {exc}"
        return None
    return True
