"""Drift reports: what differs between a database (or definition) and the definition it should match.

The text form is for people (``dbkeeper schema diff``); the JSON form
(:meth:`SchemaDiff.to_dict` plus the names of both sides) for CI and
monitoring. Destructive changes and rename suggestions get their own
sections, because they are the ones a reviewer must look at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dbkeeper.schema.migration import SchemaDiff


def drift_dict(diff: SchemaDiff, current: str, target: str) -> dict[str, Any]:
    """The JSON form of a drift report."""
    data = diff.to_dict()
    data.update({"current": current, "target": target, "generated_at": datetime.now(UTC).isoformat(),
                 "drift_count": len(diff.operations)})
    return data


def drift_report(diff: SchemaDiff, current: str = "current", target: str = "target") -> str:
    """The text form of a drift report."""
    lines = [f"schema drift: {current} -> {target} ({diff.dialect})"]
    if diff.is_empty:
        lines.append("no drift: the schemas match")
    else:
        lines.append(f"{len(diff.operations)} change(s):")
        lines.extend(f"  {'!' if op.destructive else '-'} {op.describe()}" for op in diff.operations)
    if diff.destructive:
        lines.append(f"destructive ({len(diff.destructive)}): drops or narrowing changes that can lose data; "
                     "generating a migration needs --allow-destructive")
    if diff.suggestions:
        lines.append("suggestions:")
        lines.extend(f"  ? {s}" for s in diff.suggestions)
    lines.extend(f"note: {n}" for n in diff.notes)
    return "\n".join(lines) + "\n"
