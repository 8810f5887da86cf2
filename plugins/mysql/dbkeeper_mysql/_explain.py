"""Render the JSON of ``EXPLAIN FORMAT=JSON`` as an indented, readable plan.

MySQL and MariaDB nest their plans differently (``nested_loop`` lists,
``ordering_operation``, ``read_sorted_file``, ``materialized`` subqueries...),
so the renderer does not rely on one layout: it walks the document, writes
one line per query block, table access and named operation, and indents
what is nested inside. The JSON itself stays available as ``QueryPlan.raw``.

Example (MariaDB)::

    select #1
      read sorted file
        filesort by a.k
          table a: ALL, possible keys k, rows 1, filtered 100%, condition a.`name` = 'x'
      table b: eq_ref on PRIMARY (id), ref test.a.k, rows 1, filtered 100%
"""

from __future__ import annotations

from typing import Any

#: Containers that only group their children; they get no line of their own.
_TRANSPARENT = frozenset({"query_block", "table", "nested_loop", "query_specifications", "block-nl-join",
                          "bka-join", "cost_info"})
#: Keys whose values are details of the node, not nested plan parts.
_DETAIL_KEYS = frozenset({"cost_info", "used_columns", "possible_keys", "used_key_parts", "ref", "r_loops",
                          "r_total_time_ms", "buffer_type", "buffer_size", "join_type"})


def plan_text(document: Any) -> str:
    """The readable plan of one ``EXPLAIN FORMAT=JSON`` document."""
    lines: list[str] = []
    _walk(document, 0, lines)
    return "\n".join(lines) if lines else "(empty plan)"


def _walk(node: Any, depth: int, lines: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, depth, lines)
        return
    if not isinstance(node, dict):
        return
    line = _describe(node)
    if line:
        lines.append("  " * depth + line)
        depth += 1
    for key, value in node.items():
        if key in _DETAIL_KEYS or not isinstance(value, dict | list):
            continue
        if isinstance(value, dict) and key not in _TRANSPARENT and _describe(value) is None:
            lines.append("  " * depth + key.replace("_", " "))
            _walk(value, depth + 1, lines)
        else:
            _walk(value, depth, lines)


def _describe(node: dict[str, Any]) -> str | None:
    if "table_name" in node:
        return _table_line(node)
    if "select_id" in node:
        operation = node.get("operation")
        return f"select #{node['select_id']}" + (f" ({operation})" if operation else "")
    if "message" in node:
        return str(node["message"])
    if "sort_key" in node:
        return f"filesort by {node['sort_key']}"
    return None


def _table_line(node: dict[str, Any]) -> str:
    access = str(node.get("access_type", "?"))
    head = f"table {node['table_name']}: {access}"
    key = node.get("key")
    if key:
        parts = node.get("used_key_parts")
        head += f" on {key}" + (f" ({', '.join(map(str, parts))})" if parts else "")
    details: list[str] = []
    possible = node.get("possible_keys")
    if possible and not key:
        details.append(f"possible keys {', '.join(map(str, possible))}")
    ref = node.get("ref")
    if ref:
        details.append(f"ref {', '.join(map(str, ref))}")
    rows = node.get("rows", node.get("rows_examined_per_scan"))
    if rows is not None:
        details.append(f"rows {rows}")
    filtered = node.get("filtered")
    if filtered is not None:
        details.append(f"filtered {filtered}%")
    condition = node.get("attached_condition")
    if condition:
        details.append(f"condition {condition}")
    for flag in ("using_index", "using_filesort", "using_temporary_table"):
        if node.get(flag) is True:
            details.append(flag.replace("_", " "))
    return head + (", " + ", ".join(details) if details else "")
