"""MySQL/MariaDB's answers to the advisor's questions: online ALTER TABLE, InnoDB's statistics, KILL.

Registered through ``dbkeeper_register_advisor_rules``; every rule not
overridden here is the generic one of :class:`dbkeeper.monitoring.rules.AdvisorRules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.monitoring.advice import Recommendation, Thresholds
from dbkeeper.monitoring.rules import AdvisorRules

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect


class MySQLAdvisorRules(AdvisorRules):
    """``ALGORITHM=INPLACE, LOCK=NONE`` index DDL, tablespace free space, ``KILL``, ``SET GLOBAL`` fixes."""

    dialect_name: ClassVar[str] = "mysql"
    server_stats: ClassVar[str] = "dbkeeper_mysql.server_stats:MySQLServerStats"

    def create_index_sql(self, dialect: Dialect, table: str, name: str, columns: list[str] | tuple[str, ...]) -> str:
        """An online ``ADD INDEX``: writers go on while it builds."""
        cols = ", ".join(dialect.quote_identifier(c) for c in columns)
        return (f"ALTER TABLE {dialect.qualify(table)} ADD INDEX {dialect.quote_identifier(name)} ({cols}), "
                "ALGORITHM=INPLACE, LOCK=NONE")

    def drop_index_sql(self, dialect: Dialect, table: str, name: str) -> str:
        """An online ``DROP INDEX``."""
        return f"ALTER TABLE {dialect.qualify(table)} DROP INDEX {dialect.quote_identifier(name)}, " \
               "ALGORITHM=INPLACE, LOCK=NONE"

    def analyze_sql(self, dialect: Dialect, table: str) -> str:
        """``ANALYZE TABLE``."""
        return f"ANALYZE TABLE {dialect.qualify(table)}"

    def cache_fix(self, cache_size_bytes: int | None) -> tuple[str, str]:
        """Double the InnoDB buffer pool (at least 128 MiB)."""
        return (f"SET GLOBAL innodb_buffer_pool_size = {max(int(cache_size_bytes or 0) * 2, 134_217_728)}",
                "and persist it in the server config; the buffer pool can take 50-75% of RAM on a dedicated host")

    def cancel_query_sql(self, session: int) -> str:
        """``KILL QUERY``: the statement stops, the connection stays."""
        return f"KILL QUERY {session}"

    def end_session_sql(self, session: int) -> str:
        """``KILL``: the connection and its transaction end."""
        return f"KILL {session}"

    def connection_limit_sql(self, target: int) -> str:
        """``SET GLOBAL max_connections``."""
        return f"SET GLOBAL max_connections = {target}"

    def statistics_matter(self, entry: dict[str, Any]) -> bool:
        """Not for transient statistics: InnoDB re-samples them itself."""
        return entry.get("persistent_statistics") is not False

    def table_bloat(self, dialect: Dialect, entry: dict[str, Any], thresholds: Thresholds) -> Recommendation | None:
        """Free space inside the table's tablespace that an online rebuild gives back."""
        name = str(entry["table"])
        free, used = int(entry.get("free_bytes") or 0), int(entry.get("data_bytes") or 0)
        if free < thresholds.free_space_bytes or free / max(free + used, 1) < thresholds.free_space_ratio:
            return None
        return Recommendation(
            kind="bloat", table=name,
            message=f"{name} has {free / 1_048_576:.1f} MiB free inside its tablespace "
                    f"({free / (free + used):.0%}); an online rebuild gives it back",
            fix=f"ALTER TABLE {dialect.qualify(name)} FORCE, ALGORITHM=INPLACE, LOCK=NONE", confidence="medium",
            evidence={"free_bytes": free, "data_bytes": used})
