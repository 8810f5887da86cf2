"""Native database statistics through the ``dbkeeper_collect_metrics`` hook.

Every dialect reports a flat dict. Common keys the analyser understands:
``connections_active``, ``connections_idle``, ``cache_hit_ratio`` (0.0-1.0),
``disk_io_mb``; anything else is dialect specific and shown as is. A
statistic the role may not read is ``None`` and ``unavailable[key]`` says
why -- never a made-up zero. A dialect without the capability gives
``{"supported": False, "reason": ...}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper.errors import UnsupportedOperationError

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection


def collect_native(connection: DatabaseConnection) -> dict[str, Any]:
    """The native statistics of ``connection`` (connecting it if needed)."""
    from dbkeeper.plugins import get_registry

    if not connection.is_connected:
        connection.connect()
    try:
        result: dict[str, Any] | None = get_registry().hook.dbkeeper_collect_metrics(
            dialect=connection.dialect, connection=connection)
    except UnsupportedOperationError as exc:
        return {"supported": False, "reason": str(exc), "unavailable": {}}
    data = dict(result or {})
    data.setdefault("supported", True)
    data.setdefault("unavailable", {})
    return data


def unavailable(metrics: dict[str, Any], key: str, reason: str) -> None:
    """Mark ``key`` unavailable in ``metrics``: the value ``None`` and the reason. For dialect authors."""
    metrics[key] = None
    metrics.setdefault("unavailable", {})[key] = reason
