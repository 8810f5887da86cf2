"""Redis's answers to the advisor's questions: ``CONFIG SET maxclients`` is how its connection limit rises.

Registered through ``dbkeeper_register_advisor_rules``; every other rule is
the generic one of :class:`dbkeeper.monitoring.rules.AdvisorRules` (most find
no SQL-shaped evidence in Redis's statistics and report themselves unavailable).
"""

from __future__ import annotations

from typing import ClassVar

from dbkeeper.monitoring.rules import AdvisorRules


class RedisAdvisorRules(AdvisorRules):
    """The connection-limit fix."""

    dialect_name: ClassVar[str] = "redis"

    def connection_limit_sql(self, target: int) -> str:
        """``CONFIG SET maxclients``."""
        return f"CONFIG SET maxclients {target}"
