"""Recommendations with evidence: what to change, why we think so, and the exact fix.

Each rule looks at real evidence -- recorded statement shapes, the database's
plan for them (``connection.explain``), its catalog (introspection) and its
native statistics -- and says how sure it is. Rules stay quiet on a clean
database: an index is suggested only when the plan really scans the table,
the table is big enough for a scan to matter, and no existing index already
leads with the filtered columns.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError
from dbkeeper.monitoring.plans import scanned_tables

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection
    from dbkeeper.introspection import TableInfo
    from dbkeeper.monitoring.analysis import QueryAnalysis

#: A scan of a table with fewer rows than this is cheap; no index is suggested for it.
MIN_ROWS_FOR_INDEX = 1_000
#: SQLite free pages worth a VACUUM: at least this share of the file and this many pages.
FREELIST_RATIO = 0.25
FREELIST_PAGES = 256

_SIMPLE_SELECT = re.compile(
    r"^select\s+.+?\s+from\s+([\w\"`]+)(?:\s+(?:as\s+)?(?!where\b)\w+)?\s+where\s+(.+?)"
    r"(?:\s+(?:group\s+by|order\s+by|limit|offset|for\s+update)\b.*)?$", re.I | re.S)
_EQUALITY = re.compile(r"(?:^|\band\s+|\()\s*(?:[\w\"`]+\.)?([\w\"`]+)\s*=\s*\?", re.I)
_NUMERIC = ("int", "serial", "numeric", "decimal", "real", "double", "float", "bool", "bit")


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


def recommend(connection: DatabaseConnection, analysis: QueryAnalysis | None = None) -> list[Recommendation]:
    """Every recommendation for ``connection``; ``analysis`` (recorded statements) feeds the index rule."""
    if not connection.is_connected:
        connection.connect()
    tables = {t.name.lower(): t for t in connection.introspect()}
    found: list[Recommendation] = []
    if analysis is not None:
        found += missing_indexes(connection, analysis, tables)
    found += duplicate_indexes(connection, tables)
    found += unindexed_foreign_keys(connection, tables)
    if connection.dialect.name == "sqlite":
        found += sqlite_freelist(connection)
    return found


def _unquote(name: str) -> str:
    return name.strip('"`').lower()


def _leading_columns(table: TableInfo) -> list[tuple[str, ...]]:
    """Column lists that can serve a lookup: every index, and the primary key."""
    lists = [tuple(c.lower() for c in index.columns) for index in table.indexes]
    if table.primary_key:
        lists.append(tuple(c.lower() for c in table.primary_key))
    return lists


def _covered(table: TableInfo, columns: list[str]) -> bool:
    """True when an index (or the primary key) starts with one of the equality columns."""
    return any(cols and cols[0] in columns for cols in _leading_columns(table))


def _literal(table: TableInfo, column: str) -> str:
    info = next((c for c in table.columns if c.name.lower() == column), None)
    numeric = info is not None and any(word in info.type.lower() for word in _NUMERIC)
    return "0" if numeric else "'0'"


def _probe(statement: str, table: TableInfo, columns: list[str]) -> str:
    """The fingerprint with its ``?`` replaced by literals of the right kind, ready for EXPLAIN."""
    out: list[str] = []
    position = 0
    for match in re.finditer(r"(?:([\w\"`]+)\s*=\s*)?\?", statement):
        column = _unquote(match.group(1)) if match.group(1) else None
        out.append(statement[position:match.start()])
        if column is not None:
            out.append(statement[match.start():match.end() - 1] + _literal(table, column))
        else:
            out.append("0")
        position = match.end()
    out.append(statement[position:])
    return "".join(out)


def _has_rows(connection: DatabaseConnection, table: str, minimum: int) -> int:
    quoted = connection.dialect.quote_identifier(table)
    count = connection.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quoted} LIMIT {minimum}) probe").scalar()
    return int(count or 0)


def missing_indexes(connection: DatabaseConnection, analysis: QueryAnalysis,
                    tables: dict[str, TableInfo]) -> list[Recommendation]:
    """Slow-query rule: a recorded single-table SELECT filters by equality but its plan scans the table."""
    found: list[Recommendation] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for stats in analysis.top_by_total_time:
        statement = stats.fingerprint
        if "(?+)" in statement or "..." in statement:
            continue
        match = _SIMPLE_SELECT.match(statement)
        if not match or re.search(r"\bjoin\b|,\s*[\w\"`]+\s+where", statement[: match.end(1) + 40], re.I):
            continue
        table = tables.get(_unquote(match.group(1)))
        if table is None:
            continue
        columns = list(dict.fromkeys(_unquote(c) for c in _EQUALITY.findall(match.group(2))))
        known = {c.name.lower() for c in table.columns}
        columns = [c for c in columns if c in known]
        if not columns or _covered(table, columns) or (table.name, tuple(columns)) in seen:
            continue
        rows = _has_rows(connection, table.name, MIN_ROWS_FOR_INDEX)
        if rows < MIN_ROWS_FOR_INDEX:
            continue
        try:
            plan = connection.explain(_probe(statement, table, columns))
        except DbKeeperError:
            continue
        if table.name.lower() not in scanned_tables(plan):
            continue
        seen.add((table.name, tuple(columns)))
        dialect = connection.dialect
        index = dialect.quote_identifier(f"ix_{table.name}_{'_'.join(columns)}"[:63])
        cols = ", ".join(dialect.quote_identifier(c) for c in columns)
        found.append(Recommendation(
            kind="missing_index", table=table.name,
            message=f"{stats.calls} call(s) of a query filtering {table.name} by {', '.join(columns)} "
                    f"scan the whole table; an index on ({', '.join(columns)}) turns the scan into a lookup",
            fix=f"CREATE INDEX {index} ON {dialect.qualify(table.name)} ({cols})",
            confidence="high" if stats.calls >= 10 else "medium",
            evidence={"fingerprint": statement, "calls": stats.calls, "total_ms": stats.total_ms,
                      "avg_ms": stats.avg_ms, "plan": plan.text, "rows_at_least": rows,
                      "existing_indexes": [list(i.columns) for i in table.indexes]},
        ))
    return found


def duplicate_indexes(connection: DatabaseConnection, tables: dict[str, TableInfo]) -> list[Recommendation]:
    """Indexes whose columns repeat, or are a leading prefix of, another index on the same table."""
    found: list[Recommendation] = []
    dialect = connection.dialect
    for table in tables.values():
        indexes = list(table.indexes)
        for index in indexes:
            cols = tuple(c.lower() for c in index.columns)
            if index.unique or not cols:
                continue
            for other in indexes:
                other_cols = tuple(c.lower() for c in other.columns)
                if other is index or other_cols[: len(cols)] != cols:
                    continue
                if other_cols == cols and other.name > index.name and not other.unique:
                    continue  # of two identical plain indexes, report only the later-named one
                fix = (f"DROP INDEX {dialect.quote_identifier(index.name)} ON {dialect.qualify(table.name)}"
                       if dialect.db_type == "mysql" else f"DROP INDEX {dialect.quote_identifier(index.name)}")
                found.append(Recommendation(
                    kind="duplicate_index", table=table.name,
                    message=f"index {index.name} on ({', '.join(index.columns)}) is redundant: "
                            f"{other.name} on ({', '.join(other.columns)}) serves the same lookups",
                    fix=fix, confidence="high",
                    evidence={"index": index.name, "columns": list(index.columns), "covered_by": other.name,
                              "covered_by_columns": list(other.columns)}))
                break
    return found


def unindexed_foreign_keys(connection: DatabaseConnection, tables: dict[str, TableInfo]) -> list[Recommendation]:
    """Foreign keys no index leads with: every delete or update of the parent scans the child table."""
    found: list[Recommendation] = []
    dialect = connection.dialect
    for table in tables.values():
        leading = _leading_columns(table)
        for fk in table.foreign_keys:
            cols = tuple(c.lower() for c in fk.columns)
            if any(existing[: len(cols)] == cols for existing in leading):
                continue
            name = dialect.quote_identifier(f"ix_{table.name}_{'_'.join(cols)}"[:63])
            quoted = ", ".join(dialect.quote_identifier(c) for c in fk.columns)
            found.append(Recommendation(
                kind="unindexed_foreign_key", table=table.name,
                message=f"foreign key ({', '.join(fk.columns)}) -> {fk.referred_table} has no index; deleting or "
                        f"updating {fk.referred_table} rows and joins on it scan {table.name}",
                fix=f"CREATE INDEX {name} ON {dialect.qualify(table.name)} ({quoted})",
                confidence="medium",
                evidence={"foreign_key": fk.name, "columns": list(fk.columns),
                          "referred_table": fk.referred_table,
                          "existing_indexes": [list(i.columns) for i in table.indexes]}))
    return found


def sqlite_freelist(connection: DatabaseConnection) -> list[Recommendation]:
    """Many free pages in a SQLite file: VACUUM gives the space back to the file system."""
    pages = int(connection.execute("PRAGMA page_count").scalar() or 0)
    free = int(connection.execute("PRAGMA freelist_count").scalar() or 0)
    if not pages or free < FREELIST_PAGES or free / pages < FREELIST_RATIO:
        return []
    size = int(connection.execute("PRAGMA page_size").scalar() or 0)
    return [Recommendation(
        kind="sqlite_vacuum", table="",
        message=f"{free} of {pages} pages ({free / pages:.0%}, {free * size / 1_048_576:.1f} MiB) are free; "
                "VACUUM rebuilds the file without them",
        fix="VACUUM", confidence="high",
        evidence={"page_count": pages, "freelist_count": free, "page_size": size})]
