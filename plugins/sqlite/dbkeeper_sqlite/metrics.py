"""SQLite's native statistics: page counts, free pages, file size, planner statistics.

SQLite has no server, so session counts, a buffer-cache hit ratio and index
usage counters do not exist; they are reported unavailable with that reason
rather than as zero. ``table_stats`` compares each table's row count (counted,
capped at :data:`COUNT_CAP`) with what ``sqlite_stat1`` last recorded, which
is what the advisor's planner-statistics rule needs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

_NO_SERVER = "SQLite is embedded: there are no server sessions"
#: Rows counted per table at most: enough to judge statistics, bounded on huge tables.
COUNT_CAP = 1_000_000


def collect_metrics(connection: Session) -> dict[str, Any]:
    """``page_count``, ``freelist_count``, ``page_size``, ``file_size_bytes``, ``has_sqlite_stat1``..."""
    page_count = int(connection.execute("PRAGMA page_count").scalar() or 0)
    freelist = int(connection.execute("PRAGMA freelist_count").scalar() or 0)
    page_size = int(connection.execute("PRAGMA page_size").scalar() or 0)
    stat1 = connection.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").scalar()
    metrics: dict[str, Any] = {
        "page_count": page_count,
        "freelist_count": freelist,
        "page_size": page_size,
        "database_size_bytes": page_count * page_size,
        "freelist_ratio": round(freelist / page_count, 6) if page_count else 0.0,
        "has_sqlite_stat1": bool(stat1),
        "journal_mode": str(connection.execute("PRAGMA journal_mode").scalar()),
        "counters": [],
        "connections_active": None,
        "connections_idle": None,
        "cache_hit_ratio": None,
        "disk_io_mb": None,
        "sessions": None,
        "index_usage": None,
        "max_connections": None,
        "unavailable": {
            "connections_active": _NO_SERVER,
            "connections_idle": _NO_SERVER,
            "sessions": _NO_SERVER,
            "max_connections": _NO_SERVER,
            "cache_hit_ratio": "SQLite does not count page-cache hits per database",
            "disk_io_mb": "SQLite does not count bytes read or written",
            "index_usage": "SQLite does not count how often an index is used",
        },
    }
    path = connection.url.database
    if path and path != ":memory:" and os.path.exists(path):
        metrics["file_size_bytes"] = os.path.getsize(path)
    else:
        metrics["file_size_bytes"] = None
        metrics["unavailable"]["file_size_bytes"] = "in-memory database has no file"
    metrics["table_stats"] = _table_stats(connection, bool(stat1))
    return metrics


def _table_stats(connection: Session, has_stat1: bool) -> list[dict[str, Any]]:
    """Rows per table (capped) and the row count ``sqlite_stat1`` holds for it (``None``: never analysed)."""
    recorded: dict[str, int] = {}
    if has_stat1:
        for row in connection.execute("SELECT tbl, stat FROM sqlite_stat1").rows:
            first = str(row["stat"] or "").split(" ", 1)[0]
            if first.isdigit():
                recorded[str(row["tbl"]).lower()] = max(recorded.get(str(row["tbl"]).lower(), 0), int(first))
    out: list[dict[str, Any]] = []
    for table in connection.dialect.table_names(connection):
        quoted = connection.dialect.quote_identifier(table)
        rows = int(connection.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {quoted} LIMIT {COUNT_CAP})").scalar() or 0)
        indexes = int(connection.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)).scalar() or 0)
        out.append({"table": table, "live_rows": rows, "dead_rows": None, "indexes": indexes,
                    "estimated_rows": recorded.get(table.lower()), "last_analyzed": None})
    return out
