"""PostgreSQL's answers to the advisor's questions: non-blocking index DDL, VACUUM, the server's settings.

Registered through ``dbkeeper_register_advisor_rules``; every rule not
overridden here is the generic one of :class:`dbkeeper.monitoring.rules.AdvisorRules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.monitoring.advice import Recommendation, Thresholds
from dbkeeper.monitoring.rules import AdvisorRules

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect


class PostgresAdvisorRules(AdvisorRules):
    """``CONCURRENTLY`` index DDL, dead-row bloat, ``pg_cancel_backend``, ``ALTER SYSTEM`` fixes."""

    dialect_name: ClassVar[str] = "postgres"
    idle_transaction_hint: ClassVar[str] = "; idle_in_transaction_session_timeout ends such sessions"
    connection_limit_note: ClassVar[str] = " (needs a restart)"
    server_stats: ClassVar[str] = "dbkeeper_postgres.server_stats:PostgresServerStats"

    def create_index_sql(self, dialect: Dialect, table: str, name: str, columns: list[str] | tuple[str, ...]) -> str:
        """``CREATE INDEX CONCURRENTLY``: writers go on while it builds."""
        cols = ", ".join(dialect.quote_identifier(c) for c in columns)
        return f"CREATE INDEX CONCURRENTLY {dialect.quote_identifier(name)} ON {dialect.qualify(table)} ({cols})"

    def drop_index_sql(self, dialect: Dialect, table: str, name: str) -> str:
        """``DROP INDEX CONCURRENTLY``: no lock that blocks writers."""
        return f"DROP INDEX CONCURRENTLY {dialect.quote_identifier(name)}"

    def cache_fix(self, cache_size_bytes: int | None) -> tuple[str, str]:
        """Double ``shared_buffers`` (at least 128 MB)."""
        target = f"'{max(int(cache_size_bytes or 0) * 2 // 1_048_576, 128)}MB'"
        return (f"ALTER SYSTEM SET shared_buffers = {target}",
                "then restart the server; keep shared_buffers at about 25% of RAM")

    def cancel_query_sql(self, session: int) -> str:
        """``pg_cancel_backend``: the statement stops, the session stays."""
        return f"SELECT pg_cancel_backend({session})"

    def end_session_sql(self, session: int) -> str:
        """``pg_terminate_backend``: the session and its transaction end."""
        return f"SELECT pg_terminate_backend({session})"

    def connection_limit_sql(self, target: int) -> str:
        """``ALTER SYSTEM SET max_connections`` (takes effect after a restart)."""
        return f"ALTER SYSTEM SET max_connections = {target}"

    def never_analyzed(self, entry: dict[str, Any]) -> bool:
        """No ``ANALYZE`` yet: CREATE INDEX fills reltuples too, but only ANALYZE gathers column statistics."""
        return entry.get("last_analyzed") is None

    def table_bloat(self, dialect: Dialect, entry: dict[str, Any], thresholds: Thresholds) -> Recommendation | None:
        """Dead rows autovacuum has not reclaimed yet."""
        name = str(entry["table"])
        dead, live = int(entry.get("dead_rows") or 0), int(entry.get("live_rows") or 0)
        if dead < thresholds.dead_rows or dead / max(dead + live, 1) < thresholds.dead_row_ratio:
            return None
        return Recommendation(
            kind="bloat", table=name,
            message=f"{name} holds {dead:,} dead rows ({dead / (dead + live):.0%}); VACUUM makes the space "
                    "reusable without locking out reads or writes (autovacuum is falling behind)",
            fix=f"VACUUM (ANALYZE) {dialect.qualify(name)}", confidence="high",
            evidence={"dead_rows": dead, "live_rows": live})
