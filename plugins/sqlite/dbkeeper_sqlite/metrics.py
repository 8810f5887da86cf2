"""SQLite's native statistics: page counts, free pages, file size, planner statistics.

SQLite has no server, so session counts and a buffer-cache hit ratio do not
exist; they are reported unavailable with that reason rather than as zero.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection

_NO_SERVER = "SQLite is embedded: there are no server sessions"


def collect_metrics(connection: DatabaseConnection) -> dict[str, Any]:
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
        "connections_active": None,
        "connections_idle": None,
        "cache_hit_ratio": None,
        "disk_io_mb": None,
        "unavailable": {
            "connections_active": _NO_SERVER,
            "connections_idle": _NO_SERVER,
            "cache_hit_ratio": "SQLite does not count page-cache hits per database",
            "disk_io_mb": "SQLite does not count bytes read or written",
        },
    }
    path = connection.url.database
    if path and path != ":memory:" and os.path.exists(path):
        metrics["file_size_bytes"] = os.path.getsize(path)
    else:
        metrics["file_size_bytes"] = None
        metrics["unavailable"]["file_size_bytes"] = "in-memory database has no file"
    return metrics
