"""Read what matters to the advisor out of a :class:`~dbkeeper.contract.dialect.QueryPlan`.

Plans differ per database (SQLite ``EXPLAIN QUERY PLAN`` rows, PostgreSQL
JSON nodes, MySQL ``FORMAT=JSON`` documents); the advisor only needs two
questions answered -- which tables are read in full, and which are reached
through an index -- so this module walks each shape and answers them, without
importing any driver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import QueryPlan

_SQLITE_SCAN = re.compile(r"^SCAN (?:TABLE )?(\S+)")
_SQLITE_SEARCH = re.compile(r"^SEARCH (?:TABLE )?(\S+) USING (?:COVERING |INTEGER PRIMARY )?(?:INDEX|KEY)")
_PG_SCANS = {"Seq Scan"}
_PG_INDEX = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
_MYSQL_INDEX = {"const", "eq_ref", "ref", "range", "ref_or_null", "index_merge", "system"}


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _name(value: Any) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).strip('"`[]').lower()


def table_access(plan: QueryPlan) -> dict[str, str]:
    """Map each table in ``plan`` (lower-cased) to ``"scan"`` or ``"index"``; a scan anywhere wins."""
    access: dict[str, str] = {}

    def note(table: str, how: str) -> None:
        if access.get(table) != "scan":
            access[table] = how

    for node in _nodes(plan.raw):
        detail = node.get("detail")
        if isinstance(detail, str):
            scan = _SQLITE_SCAN.match(detail)
            if scan:  # SCAN t, or SCAN t USING COVERING INDEX (a full index scan): every entry is read
                note(_name(scan.group(1)), "scan")
            search = _SQLITE_SEARCH.match(detail)
            if search:
                note(_name(search.group(1)), "index")
        kind = node.get("Node Type")
        if isinstance(kind, str) and "Relation Name" in node:
            if kind in _PG_SCANS:
                note(_name(node["Relation Name"]), "scan")
            elif kind in _PG_INDEX:
                note(_name(node["Relation Name"]), "index")
        if "table_name" in node and "access_type" in node:
            how = str(node["access_type"])
            if how in {"ALL", "index"}:
                note(_name(node["table_name"]), "scan")
            elif how in _MYSQL_INDEX:
                note(_name(node["table_name"]), "index")
    return access


def scanned_tables(plan: QueryPlan) -> set[str]:
    """Tables the plan reads in full."""
    return {t for t, how in table_access(plan).items() if how == "scan"}


def indexed_tables(plan: QueryPlan) -> set[str]:
    """Tables the plan reaches only through an index."""
    return {t for t, how in table_access(plan).items() if how == "index"}
