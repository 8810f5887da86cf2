"""What the advisor says: its checks, its thresholds and its findings, as plain data.

Kept apart from the rules (:mod:`dbkeeper.monitoring.rules`) and from the
advisor that runs them (:mod:`dbkeeper.monitoring.advisor`), so a plugin's
rules and the core's share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Every check the advisor runs, in report order.
CHECKS = ("missing_index", "unused_index", "duplicate_index", "unindexed_foreign_key", "cache_hit_ratio",
          "planner_statistics", "bloat", "long_running_query", "idle_in_transaction", "connection_saturation")

#: Kept for callers of the first version: a scan of a smaller table is cheap.
MIN_ROWS_FOR_INDEX = 1_000


@dataclass(frozen=True)
class Thresholds:
    """When a rule speaks up. The defaults are documented in docs/monitoring.md.

    Tests and cautious operators pass their own (``Thresholds(long_query_seconds=5)``).
    """

    #: A table needs this many rows before a scan of it (or its statistics) matters.
    min_rows: int = MIN_ROWS_FOR_INDEX
    #: SQLite free pages worth a VACUUM: this share of the file and at least this many pages.
    freelist_ratio: float = 0.25
    freelist_pages: int = 256
    #: PostgreSQL dead rows worth a VACUUM: this share of the table and at least this many.
    dead_row_ratio: float = 0.2
    dead_rows: int = 1_000
    #: MySQL free space worth a rebuild: this share of the table and at least this many bytes.
    free_space_ratio: float = 0.25
    free_space_bytes: int = 64 * 1_048_576
    #: Below this cache hit ratio, after at least ``cache_min_requests`` block/page requests.
    cache_hit_ratio: float = 0.90
    cache_min_requests: int = 100_000
    #: Planner statistics are stale when this share of the rows changed since they were taken.
    stale_statistics_ratio: float = 0.2
    #: Sessions: a statement running this long, a transaction idle this long.
    long_query_seconds: float = 60.0
    idle_transaction_seconds: float = 60.0
    #: Connections in use over the server's limit.
    connection_saturation: float = 0.8


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Recommendation:
    """One thing to change: ``kind``, the object, a message, the evidence, the confidence and the fix."""

    kind: str
    table: str
    message: str
    fix: str
    confidence: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Advice:
    """What the advisor found, and which checks could not run (check name -> reason)."""

    recommendations: list[Recommendation]
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"recommendations": [r.to_dict() for r in self.recommendations], "unavailable": dict(self.unavailable)}
