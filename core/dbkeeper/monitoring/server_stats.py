"""The server's own statistics: what a dialect reads, and the deltas between two readings.

Why: the recorder sees only the statements that went through dbkeeper's own
connections; a DBA who points a monitor at a server expects that server's
work (pgbench, other applications), as pghero or PMM show it. The server
keeps cumulative counters (per normalised statement, per database, server
wide), so the monitor reads them now and again and turns two readings into
rates; the recorder stays the source where the library is the only client
(SQLite) and a second source everywhere else.

A dialect plugin provides a :class:`ServerStats` subclass and names it on
its advisor rules (``AdvisorRules.server_stats = "package.module:Class"``,
imported on first use): the core names no dialect. A reading
(:meth:`ServerStats.snapshot`) is a plain JSON-ready dict:

``ts``
    ``time.time()`` of the reading.
``source``
    Where the statement figures come from (``pg_stat_statements``,
    ``performance_schema``, ...), or the counters' source when no
    per-statement source is readable.
``sources`` / ``unavailable``
    What was read, and ``{what: reason}`` for what could not be (a reason
    says how to enable it).
``notices``
    ``[{"key", "message", "steps": [...]}]``: what reports show at the top
    (a missing ``pg_stat_statements`` with the exact steps to enable it).
``statements``
    ``{key: {"query", "calls", "total_ms", "rows", "blocks_hit", "blocks_read"}}``
    cumulative per normalised statement, or ``None``.
``statements_reset``
    A marker that changes when the statement statistics were reset.
``counters`` / ``counters_reset``
    Cumulative counters by portable name (``transactions``, ``commits``,
    ``rollbacks``, ``queries``, ``cache_hits``, ``cache_reads``,
    ``deadlocks``, ...) and their reset marker.
``gauges``
    Point values (``connections``, ``max_connections``,
    ``xid_wraparound_age``, ...).
``own_counts``
    How much of each counter the reading itself added (its own statements),
    subtracted from the next window's deltas.
``sessions`` / ``lock_waits``
    Session counts (``active``, ``idle``, ``idle_in_transaction``,
    ``waiting``, ``longest_running_seconds``, ``longest_transaction_seconds``,
    ``list``) and who waits for whom (``[{"pid", "blocking": [pids],
    "seconds", "query", "blocking_queries"}]``).

Replication is not read here yet: a dialect adds ``replication`` (lag in
bytes and seconds) to its reading and :mod:`dbkeeper.monitoring.metrics`
exports it (see ``REPLICATION_METRICS`` there), the extension point for the
fleet work.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.engine.connection import DatabaseConnection

#: Prefix of every statement the monitor itself sends, so the per-statement sources can leave them out.
MONITOR_TAG = "/* dbkeeper monitor */ "
#: Statements kept per window (by total time); the rest are summed into the rates only.
TOP_STATEMENTS = 50
_PER_STATEMENT = ("calls", "total_ms", "rows", "blocks_hit", "blocks_read")


class ServerStats(ABC):
    """A dialect's reader of its server's statistics; subclass it in the plugin and name it on the advisor rules.

    :meth:`snapshot` runs the reading on ``connection`` (outside the
    recorder: the caller wraps it in ``unrecorded``). It never raises for a
    statistic the role may not read or the server does not keep: that goes
    to ``unavailable`` with the reason, and to ``notices`` when a report
    should say so at the top.
    """

    #: Names of the sources the reader uses, shown in reports ("pg_stat_statements", "pg_stat_activity", ...).
    source_names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def snapshot(self, connection: DatabaseConnection) -> dict[str, Any]:
        """One reading (see the module doc for its keys); every dialect's reader defines it."""

    def hypothetical_index_cost(self, connection: DatabaseConnection, create_index_sql: str,
                                statement: str, params: list[Any]) -> dict[str, Any] | None:
        """The planner's cost of ``statement`` before and after a hypothetical index, or ``None`` when not possible.

        PostgreSQL answers with HypoPG when it is installed; other dialects have no such planner hook.
        """
        return None


class CountingSession:
    """``connection`` counting the statements a reader sends, so a window can leave them out of the counters.

    Why: a server's counters (``Questions``, ``xact_commit``) count the
    monitor's own reads too; ``own_counts`` in a reading says how many, and
    :func:`window` subtracts the earlier reading's.
    """

    def __init__(self, connection: DatabaseConnection) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.statements = 0

    def execute(self, sql: str, params: Any = None) -> Any:
        """Run one statement and count it."""
        self.statements += 1
        return self.connection.execute(sql, params)


def empty_snapshot(source: str) -> dict[str, Any]:
    """A reading with every section empty, for a reader to fill in."""
    return {"ts": time.time(), "source": source, "sources": [], "unavailable": {}, "notices": [],
            "statements": None, "statements_reset": None, "counters": {}, "counters_reset": None,
            "gauges": {}, "sessions": {}, "lock_waits": [], "own_counts": {}}


def server_stats_for(dialect: Dialect) -> ServerStats | None:
    """The reader ``dialect``'s plugin named (``AdvisorRules.server_stats``), or ``None`` (the recorder only)."""
    from dbkeeper.monitoring.advisor import rules_for
    from dbkeeper.monitoring.errors import MonitoringError

    where = rules_for(dialect).server_stats
    if not where:
        return None
    module, _, name = where.partition(":")
    try:
        reader_class = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise MonitoringError(f"the server statistics reader {where!r} of {dialect.name} cannot be loaded: {exc}") \
            from None
    reader: ServerStats = reader_class()
    return reader


def read_server(connection: DatabaseConnection, reader: ServerStats | None = None) -> dict[str, Any] | None:
    """One reading of ``connection``'s server, not recorded as the application's workload; ``None`` for none."""
    from dbkeeper.monitoring.recorder import unrecorded

    reader = reader if reader is not None else server_stats_for(connection.dialect)
    if reader is None:
        return None
    if not connection.is_connected:
        connection.connect()
    with unrecorded(connection):
        return reader.snapshot(connection)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def window(before: dict[str, Any], after: dict[str, Any], *, top: int = TOP_STATEMENTS) -> dict[str, Any]:
    """What happened between two readings: rates per second, the statements' deltas, reset-aware.

    A statement whose calls went down was reset (or evicted and seen again)
    in between: its delta is what it counted since, its values in ``after``.
    A changed ``statements_reset`` marker means all of them were reset: each
    delta is then its ``after`` value, which undercounts by what ran between
    ``before`` and the reset, so ``reset`` says so. Counters are the same:
    a changed ``counters_reset`` or a counter that went down gives no rate
    for the counters (``None`` and the reason), never a negative number.
    """
    seconds = float(after["ts"]) - float(before["ts"])
    out: dict[str, Any] = {"start": before["ts"], "end": after["ts"], "seconds": round(seconds, 3),
                           "source": after.get("source"), "reset": False, "rates": {}, "statements": [],
                           "unavailable": dict(after.get("unavailable") or {})}
    if seconds <= 0:
        out["unavailable"]["rates"] = "the readings are not apart in time"
        return out
    rates: dict[str, float | None] = out["rates"]
    old_statements, new_statements = before.get("statements"), after.get("statements")
    if isinstance(new_statements, dict) and isinstance(old_statements, dict):
        reset_all = before.get("statements_reset") != after.get("statements_reset")
        deltas: list[dict[str, Any]] = []
        merged: dict[str, dict[str, Any]] = {}
        for key, new in new_statements.items():
            old = None if reset_all else old_statements.get(key)
            if old is not None and (_number(new.get("calls")) or 0) < (_number(old.get("calls")) or 0):
                old, out["reset"] = None, True
            delta = {name: (_number(new.get(name)) or 0.0) - ((_number(old.get(name)) or 0.0) if old else 0.0)
                     for name in _PER_STATEMENT}
            if delta["calls"] <= 0:
                continue
            text = str(new.get("query", ""))
            same = merged.get(text)
            if same is None:  # one normalised text can have several ids (roles, parameter types): one line
                merged[text] = {"key": key, "query": text, **delta}
            else:
                for name in _PER_STATEMENT:
                    same[name] += delta[name]
        for entry in merged.values():
            entry["mean_ms"] = entry["total_ms"] / entry["calls"]
            deltas.append(entry)
        out["reset"] = out["reset"] or reset_all
        calls = sum(d["calls"] for d in deltas)
        total_ms = sum(d["total_ms"] for d in deltas)
        rates["statements_per_second"] = round(calls / seconds, 3)
        rates["mean_latency_ms"] = round(total_ms / calls, 4) if calls else None
        rates["rows_per_second"] = round(sum(d["rows"] for d in deltas) / seconds, 3)
        rates["statement_time_ms_per_second"] = round(total_ms / seconds, 3)
        deltas.sort(key=lambda d: d["total_ms"], reverse=True)
        out["statements"] = [{**d, "total_ms": round(d["total_ms"], 4), "mean_ms": round(d["mean_ms"], 4),
                              "calls_per_second": round(d["calls"] / seconds, 3)} for d in deltas[:top]]
        out["distinct_statements"] = len(deltas)
        if reset_all:
            out["unavailable"]["statements_reset"] = ("the statement statistics were reset during the window: "
                                                      "the rates count only what ran after the reset")
    else:
        out["unavailable"].setdefault("statements", "no per-statement source on this server")
    old_counters, new_counters = before.get("counters") or {}, after.get("counters") or {}
    counter_reset = before.get("counters_reset") != after.get("counters_reset") or any(
        (_number(new_counters.get(k)) or 0) < (_number(v) or 0) for k, v in old_counters.items() if k in new_counters)
    deltas_c: dict[str, float] = {}
    for key, new in new_counters.items():
        old_value, new_value = _number(old_counters.get(key)), _number(new)
        if counter_reset or old_value is None or new_value is None:
            continue
        deltas_c[key] = max(new_value - old_value - float((before.get("own_counts") or {}).get(key, 0)), 0.0)
    if counter_reset:
        out["reset"] = True
        out["unavailable"]["counters"] = "the counters were reset (or the server restarted) between the readings"
    out["counter_rates"] = {key: round(value / seconds, 3) for key, value in sorted(deltas_c.items())}
    if "transactions" in deltas_c:
        rates["transactions_per_second"] = round(deltas_c["transactions"] / seconds, 3)
    if "queries" in deltas_c:
        rates["queries_per_second"] = round(deltas_c["queries"] / seconds, 3)
    elif "statements_per_second" in rates:
        rates["queries_per_second"] = rates["statements_per_second"]
    else:
        out["unavailable"].setdefault("queries_per_second", "this server counts transactions, not statements, "
                                                            "without a per-statement source")
    hits, reads = deltas_c.get("cache_hits"), deltas_c.get("cache_reads")
    if hits is not None and reads is not None and hits + reads > 0:
        rates["cache_hit_ratio"] = round(hits / (hits + reads), 6)
    if "deadlocks" in deltas_c:
        rates["deadlocks_per_second"] = round(deltas_c["deadlocks"] / seconds, 6)
    return out


def cumulative_statements(snapshot: dict[str, Any], *, top: int = TOP_STATEMENTS) -> list[dict[str, Any]]:
    """The reading's statements by total time since their counters began (no window needed)."""
    statements = snapshot.get("statements")
    if not isinstance(statements, dict):
        return []
    ranked = sorted(statements.items(), key=lambda item: _number(item[1].get("total_ms")) or 0.0, reverse=True)
    out = []
    for key, entry in ranked[:top]:
        calls = _number(entry.get("calls")) or 0.0
        total = _number(entry.get("total_ms")) or 0.0
        out.append({"key": key, "query": entry.get("query", ""), **{n: _number(entry.get(n)) or 0.0
                                                                     for n in _PER_STATEMENT},
                    "mean_ms": round(total / calls, 4) if calls else 0.0})
    return out
