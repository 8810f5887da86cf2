"""Native database statistics through ``Dialect.collect_metrics``.

Every dialect reports a flat dict. Common keys the analyser understands:
``connections_active``, ``connections_idle``, ``cache_hit_ratio`` (0.0-1.0),
``disk_io_mb``; anything else is dialect specific and shown as is. A
statistic the role may not read is ``None`` and ``unavailable[key]`` says
why -- never a made-up zero. A dialect without the capability gives
``{"supported": False, "reason": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import UnsupportedOperationError

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection


def collect_native(connection: DatabaseConnection) -> dict[str, Any]:
    """The native statistics of ``connection`` (connecting it if needed)."""
    from dbkeeper.monitoring.recorder import unrecorded

    if not connection.is_connected:
        connection.connect()
    try:
        with unrecorded(connection):  # the statistics queries are not the application's workload
            result: dict[str, Any] | None = connection.dialect.collect_metrics(connection)
    except UnsupportedOperationError as exc:
        return {"supported": False, "reason": str(exc), "unavailable": {}}
    data = dict(result or {})
    data.setdefault("supported", True)
    data.setdefault("unavailable", {})
    return data


def unexplained(native: Mapping[str, Any]) -> list[str]:
    """Statistics reported as ``None`` with no reason under ``unavailable``: the contract above allows none.

    The check a dialect's tests run on what ``Dialect.collect_metrics`` returns.
    """
    reasons = native.get("unavailable") or {}
    return [key for key, value in native.items() if value is None and key not in reasons]


def unavailable(metrics: dict[str, Any], key: str, reason: str) -> None:
    """Mark ``key`` unavailable in ``metrics``: the value ``None`` and the reason. For dialect authors."""
    metrics[key] = None
    metrics.setdefault("unavailable", {})[key] = reason


def counter_rates(before: Mapping[str, Any], after: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """Per-second rates of the cumulative counters between two snapshots, with reset detection.

    ``before`` and ``after`` are :func:`collect_native` results taken
    ``seconds`` apart. Counters a dialect lists under ``counters`` only ever
    grow, so a counter that went down, a changed ``reset_marker`` (PostgreSQL's
    ``stats_reset``/server start) or a smaller ``uptime`` (MySQL) mean the
    statistics restarted in between: then no rate is given (``reset`` is
    true and each rate is ``None`` with the reason) rather than a negative or
    made-up number. A counter missing from either snapshot is unavailable.
    """
    keys = [k for k in after.get("counters") or [] if k in (before.get("counters") or [])]
    out: dict[str, Any] = {"interval_seconds": round(seconds, 3), "reset": False, "rates": {}, "unavailable": {}}
    if seconds <= 0:
        out["unavailable"]["rates"] = "the snapshots are not apart in time"
        return out
    reset = before.get("reset_marker") != after.get("reset_marker")
    old_uptime, new_uptime = before.get("uptime"), after.get("uptime")
    if isinstance(old_uptime, int | float) and isinstance(new_uptime, int | float) and new_uptime < old_uptime:
        reset = True
    for key in keys:
        old, new = before.get(key), after.get(key)
        if isinstance(old, int | float) and isinstance(new, int | float) and new < old:
            reset = True
    for key in keys:
        old, new = before.get(key), after.get(key)
        if reset:
            out["rates"][key] = None
            out["unavailable"][key] = "statistics were reset (or the server restarted) between the snapshots"
        elif not isinstance(old, int | float) or not isinstance(new, int | float):
            out["rates"][key] = None
            out["unavailable"][key] = "not reported in both snapshots"
        else:
            out["rates"][key] = round((new - old) / seconds, 3)
    out["reset"] = reset
    return out


def snapshot_counters(native: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a native snapshot later rates need: the counters, the reset marker and the uptime."""
    keys = list(native.get("counters") or [])
    kept: dict[str, Any] = {key: native.get(key) for key in keys}
    kept["counters"] = keys
    kept["reset_marker"] = native.get("reset_marker")
    kept["uptime"] = native.get("uptime")
    return kept
