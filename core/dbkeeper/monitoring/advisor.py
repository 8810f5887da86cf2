"""Recommendations with evidence: what to change, why we think so, and the exact fix.

Each rule looks at real evidence -- recorded statement shapes, the database's
plan for them (``connection.explain``), its catalog (introspection) and its
native statistics (``Dialect.collect_metrics``) -- and says how sure
it is. Rules stay quiet on a clean database: an index is suggested only when
the plan really scans the table, the table is big enough for a scan to
matter, and no existing index already leads with the filtered columns.

A rule whose evidence the database does not give (SQLite has no sessions, a
role may not read other roles' sessions, performance_schema is off) does not
guess: :attr:`Advice.unavailable` names the check and the reason.

The rules are :class:`~dbkeeper.monitoring.rules.AdvisorRules`, generic
SQL by default; a dialect's plugin registers a subclass (the
``dbkeeper_register_advisor_rules`` hook) whose fixes use its database's
non-blocking forms (``CREATE INDEX CONCURRENTLY`` on PostgreSQL, ``ALTER
TABLE ... ALGORITHM=INPLACE, LOCK=NONE`` on MySQL/MariaDB) and whose rules
read its own statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.monitoring.advice import (
    CHECKS,
    DEFAULT_THRESHOLDS,
    MIN_ROWS_FOR_INDEX,
    Advice,
    Recommendation,
    Thresholds,
)
from dbkeeper.monitoring.rules import AdvisorRules, index_name

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.analysis import QueryAnalysis

__all__ = ["CHECKS", "DEFAULT_THRESHOLDS", "MIN_ROWS_FOR_INDEX", "Advice", "AdvisorRules", "Recommendation",
           "Thresholds", "advise", "index_name", "recommend", "rules_for"]


def recommend(connection: DatabaseConnection, analysis: QueryAnalysis | None = None, *,
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Recommendation]:
    """Every recommendation for ``connection``; ``analysis`` (recorded statements) feeds the index rule."""
    return advise(connection, analysis, thresholds=thresholds).recommendations


def advise(connection: DatabaseConnection, analysis: QueryAnalysis | None = None, *,
           native: dict[str, Any] | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Advice:
    """Run every check of :data:`CHECKS` on ``connection``.

    ``native`` (the dialect's statistics) is collected when not given;
    ``analysis`` holds the recorded statements the missing-index rule
    explains -- without it that rule has nothing to look at.
    """
    from dbkeeper.monitoring.native import collect_native
    from dbkeeper.monitoring.recorder import unrecorded

    if not connection.is_connected:
        connection.connect()
    if native is None:
        native = collect_native(connection)
    with unrecorded(connection):  # catalog reads, probes and EXPLAINs are not the application's workload
        return _advise(connection, analysis, native, thresholds)


def rules_for(dialect: Dialect) -> AdvisorRules:
    """The rules ``dialect``'s plugin registered, or the generic :class:`AdvisorRules`."""
    from dbkeeper.engine.plugins import get_registry

    registered = get_registry().advisor_rules(dialect.name)
    rules: AdvisorRules = (registered or AdvisorRules)()
    return rules


def _advise(connection: DatabaseConnection, analysis: QueryAnalysis | None, native: dict[str, Any],
            thresholds: Thresholds) -> Advice:
    rules = rules_for(connection.dialect)
    tables = {t.name.lower(): t for t in connection.introspect()}
    unavailable: dict[str, str] = {}
    found: list[Recommendation] = []
    if analysis is not None:
        found += rules.missing_indexes(connection, analysis, tables, thresholds)
    else:
        unavailable["missing_index"] = "no recorded statements to explain"
    found += rules.unused_indexes(connection, tables, native, thresholds, unavailable)
    found += rules.duplicate_indexes(connection, tables)
    found += rules.unindexed_foreign_keys(connection, tables)
    found += rules.low_cache_hit_ratio(connection, native, thresholds, unavailable)
    found += rules.planner_statistics(connection, tables, native, thresholds, unavailable)
    found += rules.bloat(connection, native, thresholds, unavailable)
    found += rules.sessions(connection, native, thresholds, unavailable)
    found += rules.connection_saturation(connection, native, thresholds, unavailable)
    return Advice(found, unavailable)
