"""Render PostgreSQL's ``EXPLAIN (FORMAT JSON)`` output as readable text.

The JSON form is what programs want (``QueryPlan.raw``); people want the
indented tree ``psql`` prints. :func:`render_plan` rebuilds that tree from the
JSON, so one ``EXPLAIN`` round trip serves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Plan node properties printed under the node, in this order, as ``Key: value``.
_DETAILS = (
    "Output", "Group Key", "Sort Key", "Presorted Key", "Hash Cond", "Merge Cond", "Join Filter", "Index Cond",
    "Order By", "Recheck Cond", "Run Condition", "Filter", "One-Time Filter", "Cache Key", "Workers Planned",
    "Workers Launched",
)
_AGGREGATE_STRATEGIES = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}
_JOIN_NODES = {"Hash Join": "Hash", "Merge Join": "Merge", "Nested Loop": "Nested Loop"}


def parse_plan(value: Any) -> list[dict[str, Any]]:
    """The JSON plan as Python data, whether the driver returned text or already-decoded JSON."""
    data = json.loads(value) if isinstance(value, str | bytes | bytearray) else value
    if isinstance(data, Mapping):
        return [dict(data)]
    return [dict(item) for item in data]


def render_plan(plan: Sequence[Mapping[str, Any]]) -> str:
    """The plan tree as indented text in the style of ``psql``'s ``EXPLAIN`` output."""
    lines: list[str] = []
    for statement in plan:
        node = statement.get("Plan")
        if isinstance(node, Mapping):
            _render_node(node, 0, lines)
        for key in ("Planning Time", "Execution Time"):
            if key in statement:
                lines.append(f"{key}: {float(statement[key]):.3f} ms")
    return "\n".join(lines)


def _render_node(node: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    if indent == 0:
        detail_pad = "  "
        lines.append(f"{_label(node)}{_costs(node)}")
    else:
        if node.get("Subplan Name"):  # InitPlan/SubPlan: named on its own line, the node two deeper
            lines.append(f"{' ' * indent}{node['Subplan Name']}")
            indent += 2
        lines.append(f"{' ' * indent}->  {_label(node)}{_costs(node)}")
        detail_pad = " " * (indent + 6)
    for key in _DETAILS:
        if key in node:
            value = node[key]
            text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            lines.append(f"{detail_pad}{key}: {text}")
    for child in node.get("Plans") or ():
        _render_node(child, 2 if indent == 0 else indent + 6, lines)


def _label(node: Mapping[str, Any]) -> str:
    kind = str(node.get("Node Type", "?"))
    if kind == "Aggregate":
        kind = _AGGREGATE_STRATEGIES.get(str(node.get("Strategy")), "Aggregate")
    elif kind in _JOIN_NODES and node.get("Join Type") not in (None, "Inner"):
        kind = f"{_JOIN_NODES[kind]} {node['Join Type']} Join"
    elif kind == "ModifyTable":
        kind = str(node.get("Operation", kind))
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    if "Index Name" in node:
        kind += f" {'on' if node.get('Node Type') == 'Bitmap Index Scan' else 'using'} {node['Index Name']}"
    target = node.get("Relation Name") or node.get("CTE Name") or node.get("Function Name")
    if target is not None:
        kind += f" on {target}"
        alias = node.get("Alias")
        if alias and alias != target:
            kind += f" {alias}"
    elif kind.startswith("Subquery Scan") and node.get("Alias"):
        kind += f" on {node['Alias']}"
    elif kind.startswith("Values Scan") and node.get("Alias"):
        kind += f' on "{node["Alias"]}"'
    return kind


def _costs(node: Mapping[str, Any]) -> str:
    if "Total Cost" not in node:
        return ""
    text = (f"  (cost={float(node.get('Startup Cost', 0.0)):.2f}..{float(node['Total Cost']):.2f} "
            f"rows={node.get('Plan Rows', '?')} width={node.get('Plan Width', '?')})")
    if "Actual Total Time" in node:
        text += (f" (actual time={float(node.get('Actual Startup Time', 0.0)):.3f}.."
                 f"{float(node['Actual Total Time']):.3f} rows={node.get('Actual Rows', '?')} "
                 f"loops={node.get('Actual Loops', '?')})")
    return text
