"""The advisor's rules: the generic ones, which a dialect's plugin subclasses where its database differs.

:class:`AdvisorRules` holds one method per rule, run in the order of
:data:`~dbkeeper.monitoring.advice.CHECKS`, plus the small questions the
rules ask of the database: the fix statement for an index, an ``ANALYZE``,
a cancelled query, a raised limit; which tables' statistics matter; what
space a table holds after deletes. The generic answers are portable SQL
(``CREATE INDEX``, ``ANALYZE``) or no fix at all; each shipped plugin
registers a subclass through the ``dbkeeper_register_advisor_rules`` hook
with its database's non-blocking forms and its statistics, the way
alembic's ``DefaultImpl`` subclasses carry each dialect's DDL. The core
never asks which database it is talking to.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.errors import DbKeeperError
from dbkeeper.monitoring.advice import Recommendation, Thresholds
from dbkeeper.monitoring.plans import scanned_tables

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.introspection import TableInfo
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.analysis import QueryAnalysis


def index_name(table: str, columns: list[str] | tuple[str, ...]) -> str:
    """The name a suggested index gets: ``ix_<table>_<columns>``, cut to 63 characters (PostgreSQL's limit)."""
    return f"ix_{table}_{'_'.join(columns)}"[:63]


# -- missing indexes ----------------------------------------------------------------------------------------
_IDENT = r"[\w\"`]+"
_STATEMENT = re.compile(
    rf"^(?:select\s+.+?\s+from\s+(?P<select>{_IDENT})(?:\s+(?:as\s+)?(?!where\b){_IDENT})?"
    rf"|update\s+(?P<update>{_IDENT})\s+set\s+.+?"
    rf"|delete\s+from\s+(?P<delete>{_IDENT}))"
    r"\s+where\s+(?P<where>.+?)"
    r"(?:\s+(?:group\s+by|order\s+by|limit|offset|for\s+update|returning)\b.*)?$", re.I | re.S)
_BETWEEN = re.compile(rf"(?:{_IDENT}\.)?({_IDENT})\s+between\s+\?\s+and\s+\?", re.I)
_COMPARE = re.compile(rf"^\(?\s*(?:{_IDENT}\.)?(?P<col>{_IDENT})\s*(?P<op>=|<=|>=|<|>)\s*\?\s*\)?$")
_IN = re.compile(rf"^\(?\s*(?:{_IDENT}\.)?(?P<col>{_IDENT})\s+in\s*\(\?\+\)\s*\)?$", re.I)
_PARAM_COLUMN = re.compile(
    rf"(?:({_IDENT})\s*(?:=|<=|>=|<>|!=|<|>|\blike|\bin\s*\(|\bbetween)\s*"
    rf"|({_IDENT})\s+between\s+\?\s+and\s+)$", re.I)


def _unquote(name: str) -> str:
    return name.strip('"`').lower()


def _leading_columns(table: TableInfo) -> list[tuple[str, ...]]:
    """Column lists that can serve a lookup: every index, and the primary key."""
    lists = [tuple(c.lower() for c in index.columns) for index in table.indexes]
    if table.primary_key:
        lists.append(tuple(c.lower() for c in table.primary_key))
    return lists


def _predicates(where: str) -> tuple[list[str], str | None] | None:
    """Equality columns and one range column of an AND-only WHERE clause; ``None`` when it cannot be indexed simply."""
    if re.search(r"\bor\b|\bnot\b|\bexists\b|\bselect\b", where, re.I):
        return None
    equal: list[str] = []
    ranges: list[str] = []
    text = where
    for match in _BETWEEN.finditer(text):
        ranges.append(_unquote(match.group(1)))
    text = _BETWEEN.sub(" ", text)
    for piece in re.split(r"\band\b", text, flags=re.I):
        part = piece.strip()
        if not part:
            continue
        compare = _COMPARE.match(part)
        if compare:
            (equal if compare.group("op") == "=" else ranges).append(_unquote(compare.group("col")))
            continue
        listed = _IN.match(part)
        if listed:
            equal.append(_unquote(listed.group("col")))
            continue
        # any other predicate (LIKE, functions, IS NULL...) is fine to have, it just is not indexed here
    equal = list(dict.fromkeys(equal))
    ranged = next((c for c in ranges if c not in equal), None)
    if not equal and ranged is None:
        return None
    return equal, ranged


def _probe(connection: DatabaseConnection, statement: str, table: TableInfo) -> tuple[str, list[Any]] | None:
    """The fingerprint made explainable: ``IN (?+)`` becomes ``IN (?)`` and each ``?`` gets a real value.

    A value comes from the column it is compared with (a row of the table), so
    the plan is the one a real call would get; ``?`` not tied to a column
    (LIMIT, OFFSET) get 1. ``None`` when a column has no value to probe with.
    """
    statement = statement.replace("(?+)", "(?)")
    known = {c.name.lower(): c.name for c in table.columns}
    samples: dict[str, Any] = {}
    params: list[Any] = []
    for match in re.finditer(r"\?", statement):
        before = _PARAM_COLUMN.search(statement[max(0, match.start() - 120):match.start()])
        column = _unquote(before.group(1) or before.group(2)) if before else None
        if column is None or column not in known:
            params.append(1)
            continue
        if column not in samples:
            dialect = connection.dialect
            quoted = dialect.quote_identifier(known[column])
            samples[column] = connection.execute(
                f"SELECT {quoted} FROM {dialect.qualify(table.name)} WHERE {quoted} IS NOT NULL LIMIT 1").scalar()
        if samples[column] is None:
            return None
        params.append(samples[column])
    return statement, params


def _row_count_at_least(connection: DatabaseConnection, table: str, minimum: int) -> int:
    quoted = connection.dialect.qualify(table)
    count = connection.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quoted} LIMIT {minimum}) probe").scalar()
    return int(count or 0)


def _reason(native: dict[str, Any], key: str, default: str) -> str:
    reasons: dict[str, str] = native.get("unavailable") or {}
    return reasons.get(key) or native.get("reason") or default


class AdvisorRules:
    """The generic rules; subclass it for a dialect and register the subclass (``dbkeeper_register_advisor_rules``).

    Stateless: the advisor makes one instance per run. A subclass sets
    :attr:`dialect_name` and overrides the methods its database answers
    differently; every other rule stays generic.
    """

    #: The registered dialect name these rules serve ("" for the generic rules).
    dialect_name: ClassVar[str] = ""
    #: Said after "a transaction idle" when the database has a setting that ends such sessions.
    idle_transaction_hint: ClassVar[str] = ""
    #: Said after "raise the limit" when raising it needs more than the fix statement.
    connection_limit_note: ClassVar[str] = ""
    #: ``"module:Class"`` of the dialect's :class:`~dbkeeper.monitoring.server_stats.ServerStats` reader, imported
    #: on first use; empty: the server's own statistics are not read (the recorder is the only source).
    server_stats: ClassVar[str] = ""

    # -- what the fixes look like on this database -------------------------------------------------------
    def create_index_sql(self, dialect: Dialect, table: str, name: str, columns: list[str] | tuple[str, ...]) -> str:
        """``CREATE INDEX``; a subclass returns the form that does not block writers where its database has one."""
        cols = ", ".join(dialect.quote_identifier(c) for c in columns)
        return f"CREATE INDEX {dialect.quote_identifier(name)} ON {dialect.qualify(table)} ({cols})"

    def drop_index_sql(self, dialect: Dialect, table: str, name: str) -> str:
        """``DROP INDEX``; a subclass returns the form that does not block writers where its database has one."""
        return f"DROP INDEX {dialect.quote_identifier(name)}"

    def analyze_sql(self, dialect: Dialect, table: str) -> str:
        """The statement that refreshes ``table``'s planner statistics."""
        return f"ANALYZE {dialect.qualify(table)}"

    def cache_fix(self, cache_size_bytes: int | None) -> tuple[str, str]:
        """``(statement, advice)`` that grows a cache of ``cache_size_bytes``; no fix by default."""
        return "", ""

    def cancel_query_sql(self, session: int) -> str:
        """The statement that cancels the running statement of ``session``; none by default."""
        return ""

    def end_session_sql(self, session: int) -> str:
        """The statement that ends ``session`` (and its open transaction); none by default."""
        return ""

    def connection_limit_sql(self, target: int) -> str:
        """The statement that raises the server's connection limit to ``target``; none by default."""
        return ""

    # -- what the statistics mean on this database -----------------------------------------------------
    def statistics_matter(self, entry: dict[str, Any]) -> bool:
        """Whether stale or missing planner statistics of this ``table_stats`` entry can change a plan."""
        return True

    def never_analyzed(self, entry: dict[str, Any]) -> bool:
        """Whether the planner has no statistics for this ``table_stats`` entry (none, or taken while empty)."""
        return not entry.get("estimated_rows")

    def table_bloat(self, dialect: Dialect, entry: dict[str, Any], thresholds: Thresholds) -> Recommendation | None:
        """The space this ``table_stats`` entry holds after deletes, when it is worth reclaiming; none by default."""
        return None

    # -- the rules, in report order ----------------------------------------------------------------------
    def missing_indexes(self, connection: DatabaseConnection, analysis: QueryAnalysis, tables: dict[str, TableInfo],
                        thresholds: Thresholds) -> list[Recommendation]:
        """Slow-query rule: a recorded single-table statement filters by equality or range but its plan scans the table.

        Skipped when an existing index (or the primary key) already leads with a
        filtered column, when the table is small, and when the plan already uses
        an index.
        """
        found: list[Recommendation] = []
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for stats in analysis.top_by_total_time:
            statement = stats.fingerprint
            if "..." in statement or re.search(r"\bjoin\b", statement, re.I):
                continue
            match = _STATEMENT.match(statement)
            if not match:
                continue
            raw_table = match.group("select") or match.group("update") or match.group("delete")
            if match.group("select") and re.search(r"\bfrom\s+[\w\"`]+(?:\s+\w+)?\s*,", statement, re.I):
                continue  # comma join
            table = tables.get(_unquote(raw_table))
            parsed = _predicates(match.group("where"))
            if table is None or parsed is None:
                continue
            known = {c.name.lower() for c in table.columns}
            equal = [c for c in parsed[0] if c in known]
            ranged = parsed[1] if parsed[1] in known else None
            columns = equal + ([ranged] if ranged else [])
            if not columns or (table.name, tuple(columns)) in seen:
                continue
            if any(cols and cols[0] in columns for cols in _leading_columns(table)):
                continue  # an index already serves (at least the first part of) this lookup
            rows = _row_count_at_least(connection, table.name, thresholds.min_rows)
            if rows < thresholds.min_rows:
                continue
            probe = _probe(connection, statement, table)
            if probe is None:
                continue
            try:
                plan = connection.explain(probe[0], probe[1])
            except DbKeeperError:
                continue
            if table.name.lower() not in scanned_tables(plan):
                continue
            seen.add((table.name, tuple(columns)))
            dialect = connection.dialect
            real = {c.name.lower(): c.name for c in table.columns}
            names = [real[c] for c in columns]
            shape = " and ".join([f"{c} = ?" for c in equal] + ([f"a range on {ranged}"] if ranged else []))
            found.append(Recommendation(
                kind="missing_index", table=table.name,
                message=f"{stats.calls} call(s) of a statement filtering {table.name} by {shape} scan the whole "
                        f"table ({stats.total_ms:.1f} ms in total); an index on ({', '.join(names)}) turns the scan "
                        "into an index search",
                fix=self.create_index_sql(dialect, table.name, index_name(table.name, columns), names),
                confidence="high" if stats.calls >= 10 else "medium",
                evidence={"fingerprint": statement, "calls": stats.calls, "total_ms": stats.total_ms,
                          "avg_ms": stats.avg_ms, "plan": plan.text, "rows_at_least": rows,
                          "columns": names, "existing_indexes": [list(i.columns) for i in table.indexes]},
            ))
        return found

    # -- catalog rules ------------------------------------------------------------------------------------------

    def duplicate_indexes(self, connection: DatabaseConnection, tables: dict[str, TableInfo]) -> list[Recommendation]:
        """Indexes whose columns repeat, or are a leading prefix of, another index (or the primary key)."""
        found: list[Recommendation] = []
        dialect = connection.dialect
        for table in tables.values():
            indexes = list(table.indexes)
            others: list[tuple[str, tuple[str, ...], bool]] = [
                (i.name, tuple(c.lower() for c in i.columns), i.unique) for i in indexes]
            if table.primary_key:
                others.append(("PRIMARY KEY", tuple(c.lower() for c in table.primary_key), True))
            for index in indexes:
                cols = tuple(c.lower() for c in index.columns)
                if index.unique or not cols:
                    continue
                for other_name, other_cols, other_unique in others:
                    if other_name == index.name or other_cols[: len(cols)] != cols:
                        continue
                    if other_cols == cols and other_name > index.name and not other_unique:
                        continue  # of two identical plain indexes, report only the later-named one
                    found.append(Recommendation(
                        kind="duplicate_index", table=table.name,
                        message=f"index {index.name} on ({', '.join(index.columns)}) is redundant: "
                                f"{other_name} on ({', '.join(other_cols)}) serves the same lookups, and every "
                                "write pays for both",
                        fix=self.drop_index_sql(dialect, table.name, index.name), confidence="high",
                        evidence={"index": index.name, "columns": list(index.columns), "covered_by": other_name,
                                  "covered_by_columns": list(other_cols)}))
                    break
        return found

    def unindexed_foreign_keys(self, connection: DatabaseConnection,
                               tables: dict[str, TableInfo]) -> list[Recommendation]:
        """Foreign keys no index leads with: every delete or update of the parent scans the child table.

        Never fires on MySQL/MariaDB: InnoDB creates an index for every foreign key.
        """
        found: list[Recommendation] = []
        dialect = connection.dialect
        for table in tables.values():
            leading = _leading_columns(table)
            for fk in table.foreign_keys:
                cols = tuple(c.lower() for c in fk.columns)
                if any(existing[: len(cols)] == cols for existing in leading):
                    continue
                found.append(Recommendation(
                    kind="unindexed_foreign_key", table=table.name,
                    message=f"foreign key ({', '.join(fk.columns)}) -> {fk.referred_table} has no index; deleting or "
                            f"updating {fk.referred_table} rows and joins on it scan {table.name}",
                    fix=self.create_index_sql(dialect, table.name, index_name(table.name, cols), list(fk.columns)),
                    confidence="medium",
                    evidence={"foreign_key": fk.name, "columns": list(fk.columns),
                              "referred_table": fk.referred_table,
                              "existing_indexes": [list(i.columns) for i in table.indexes]}))
        return found

    # -- native-statistics rules --------------------------------------------------------------------------------

    def unused_indexes(self, connection: DatabaseConnection, tables: dict[str, TableInfo], native: dict[str, Any],
                       thresholds: Thresholds, unavailable: dict[str, str]) -> list[Recommendation]:
        """Plain indexes never scanned since the statistics were reset, on tables big enough to matter.

        Unique and primary-key indexes enforce constraints and indexes serving a
        foreign key protect the parent's deletes, so neither is reported. Nor is
        any index of a table the statistics counted no read of (``table_reads``
        zero, where the dialect reports it): MariaDB may restart a table's counters
        after an ALTER TABLE -- such as this rule's own fix -- and until the table
        is read again every index's zero says nothing about which one reads use.
        """
        usage = native.get("index_usage")
        if usage is None:
            unavailable["unused_index"] = _reason(native, "index_usage", "this database does not count index use")
            return []
        rows = {str(t["table"]).lower(): t.get("live_rows") for t in native.get("table_stats") or []}
        since = native.get("stats_reset")
        age_days = None if since is None else (time.time() - float(since)) / 86400
        found: list[Recommendation] = []
        for entry in usage:
            if entry["scans"] or entry["unique"] or entry["primary"] or entry.get("table_reads") == 0:
                continue
            table = tables.get(str(entry["table"]).lower())
            live = rows.get(str(entry["table"]).lower())
            if table is None or live is None or live < thresholds.min_rows:
                continue
            info = next((i for i in table.indexes if i.name == entry["index"]), None)
            if info is None:
                continue
            cols = tuple(c.lower() for c in info.columns)
            if any(tuple(c.lower() for c in fk.columns) == cols[: len(fk.columns)] for fk in table.foreign_keys):
                continue
            confidence = "high" if age_days is not None and age_days >= 30 else "medium" if age_days is None \
                or age_days >= 7 else "low"
            found.append(Recommendation(
                kind="unused_index", table=table.name,
                message=f"index {entry['index']} on ({', '.join(info.columns)}) was never used"
                        + (f" in the {age_days:.1f} day(s) since statistics were reset" if age_days is not None
                           else " since the statistics began")
                        + "; every write still maintains it",
                fix=self.drop_index_sql(connection.dialect, table.name, str(entry["index"])), confidence=confidence,
                evidence={"index": entry["index"], "columns": list(info.columns), "scans": entry["scans"],
                          "size_bytes": entry.get("size_bytes"), "table_rows": live, "stats_since": since}))
        return found

    def low_cache_hit_ratio(self, connection: DatabaseConnection, native: dict[str, Any], thresholds: Thresholds,
                            unavailable: dict[str, str]) -> list[Recommendation]:
        """A buffer cache that misses often, measured over enough requests to mean something."""
        ratio = native.get("cache_hit_ratio")
        if ratio is None:
            unavailable["cache_hit_ratio"] = _reason(native, "cache_hit_ratio", "no cache statistics")
            return []
        requests = int(native.get("cache_requests") or 0)
        if requests < thresholds.cache_min_requests or ratio >= thresholds.cache_hit_ratio:
            return []
        size = native.get("cache_size_bytes")
        fix, note = self.cache_fix(size)
        return [Recommendation(
            kind="low_cache_hit_ratio", table="",
            message=f"only {ratio:.1%} of {requests:,} block requests were served from the cache "
                    f"(below {thresholds.cache_hit_ratio:.0%}); a bigger cache saves disk reads, {note}",
            fix=fix, confidence="high" if requests >= 100 * thresholds.cache_min_requests else "medium",
            evidence={"cache_hit_ratio": ratio, "requests": requests, "cache_size_bytes": size})]

    def planner_statistics(self, connection: DatabaseConnection, tables: dict[str, TableInfo], native: dict[str, Any],
                           thresholds: Thresholds, unavailable: dict[str, str]) -> list[Recommendation]:
        """Tables the planner has no statistics for, or statistics far from today's row count."""
        stats = native.get("table_stats")
        if stats is None:
            unavailable["planner_statistics"] = _reason(native, "table_stats", "no table statistics")
            return []
        if "planner_statistics" in (native.get("unavailable") or {}):
            unavailable["planner_statistics"] = native["unavailable"]["planner_statistics"]
            return []
        dialect = connection.dialect
        found: list[Recommendation] = []
        for entry in stats:
            live = int(entry.get("live_rows") or 0)
            name = str(entry["table"])
            if live < thresholds.min_rows or name.lower() not in tables:
                continue
            if not self.statistics_matter(entry):
                continue
            estimated = entry.get("estimated_rows")
            modified = entry.get("modified_since_analyze")
            fix = self.analyze_sql(dialect, name)
            evidence = {"rows": live, "statistics_rows": estimated, "last_analyzed": entry.get("last_analyzed")}
            if self.never_analyzed(entry):
                found.append(Recommendation(
                    kind="missing_statistics", table=name,
                    message=f"{name} has {live:,} rows but the planner has no statistics for it, so it guesses "
                            "row counts and may pick a bad plan",
                    fix=fix, confidence="high", evidence=evidence))
                continue
            # The row count drifting from the planner's is the evidence. PostgreSQL's modification counter is
            # shown too, but not trusted alone: a backend flushing its counts after another ran ANALYZE
            # inflates it on a freshly analysed table.
            if modified is not None:
                evidence["modified_since_analyze"] = int(modified)
            changed = abs(live - int(estimated or 0))
            if changed >= max(thresholds.min_rows, thresholds.stale_statistics_ratio * max(live, int(estimated or 0))):
                found.append(Recommendation(
                    kind="stale_statistics", table=name,
                    message=f"{name}: about {changed:,} of {live:,} rows changed since its statistics were taken "
                            f"(the planner still assumes {int(estimated or 0):,} rows)",
                    fix=fix, confidence="medium", evidence=evidence))
        return found

    def bloat(self, connection: DatabaseConnection, native: dict[str, Any], thresholds: Thresholds,
              unavailable: dict[str, str]) -> list[Recommendation]:
        """Space held by deleted rows, table by table (:meth:`table_bloat`)."""
        stats = native.get("table_stats")
        if stats is None:
            unavailable["bloat"] = _reason(native, "table_stats", "no table statistics")
            return []
        found: list[Recommendation] = []
        for entry in stats:
            recommendation = self.table_bloat(connection.dialect, entry, thresholds)
            if recommendation is not None:
                found.append(recommendation)
        return found

    def sessions(self, connection: DatabaseConnection, native: dict[str, Any], thresholds: Thresholds,
                 unavailable: dict[str, str]) -> list[Recommendation]:
        """Statements running too long and transactions left open while idle (they hold locks and block VACUUM)."""
        listed = native.get("sessions")
        if listed is None:
            reason = _reason(native, "sessions", "this database does not list sessions")
            unavailable["long_running_query"] = unavailable["idle_in_transaction"] = reason
            return []
        hidden = int(native.get("sessions_hidden") or 0)
        if hidden:
            reason = _reason(native, "sessions_hidden", f"{hidden} session(s) are not visible to this role")
            unavailable["long_running_query"] = unavailable["idle_in_transaction"] = reason
        found: list[Recommendation] = []
        for session in listed:
            ident, seconds = session["id"], float(session["seconds"] or 0.0)
            evidence = {"session": ident, "user": session.get("user"), "state": session["state"], "seconds": seconds,
                        "transaction_seconds": session.get("transaction_seconds"), "query": session.get("query")}
            if session["state"] == "active" and seconds >= thresholds.long_query_seconds:
                found.append(Recommendation(
                    kind="long_running_query", table="",
                    message=f"session {ident} has been running one statement for {seconds:.0f} s; cancel it if it "
                            "is not expected (a statement_timeout prevents this)",
                    fix=self.cancel_query_sql(int(ident)),
                    confidence="high" if seconds >= 10 * thresholds.long_query_seconds else "medium",
                    evidence=evidence))
            elif session["state"].startswith("idle in transaction") and seconds >= thresholds.idle_transaction_seconds:
                found.append(Recommendation(
                    kind="idle_in_transaction", table="",
                    message=f"session {ident} has left a transaction open and idle for {seconds:.0f} s; it holds "
                            "locks and keeps old row versions alive"
                            + self.idle_transaction_hint,
                    fix=self.end_session_sql(int(ident)),
                    confidence="high", evidence=evidence))
        return found

    def connection_saturation(self, connection: DatabaseConnection, native: dict[str, Any], thresholds: Thresholds,
                              unavailable: dict[str, str]) -> list[Recommendation]:
        """Connections in use close to the server's limit: the next burst of clients will be refused."""
        limit, used = native.get("max_connections"), native.get("connections_total")
        if not limit or used is None:
            unavailable["connection_saturation"] = _reason(native, "max_connections", "no connection limit reported")
            return []
        ratio = int(used) / int(limit)
        if ratio < thresholds.connection_saturation:
            return []
        target = int(limit) * 2
        fix = self.connection_limit_sql(target)
        return [Recommendation(
            kind="connection_saturation", table="",
            message=f"{used} of {limit} connections are in use ({ratio:.0%}); put a pooler in front of the server "
                    "or shrink the application pools, or raise the limit"
                    + self.connection_limit_note,
            fix=fix, confidence="high" if ratio >= 0.95 else "medium",
            evidence={"connections": used, "max_connections": limit, "ratio": round(ratio, 4)})]
