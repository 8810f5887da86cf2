"""Performance monitoring: the query recorder, its store, the analyser and the seed API.

Every statement run through :class:`~dbkeeper.engine.connection.DatabaseConnection`
is timed into a bounded in-memory :class:`~dbkeeper.monitoring.recorder.QueryRecorder`
and flushed to a SQLite store in the workspace
(:mod:`dbkeeper.monitoring.store`), so another process can analyse it.
:mod:`dbkeeper.monitoring.api` holds the seed API (``monitor_database``,
``optimize_database``, :class:`DatabasePerformanceMonitor`,
:class:`DatabaseMetrics`). Submodules are imported on use; this package
imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.monitoring.api import (
        DatabaseMetrics,
        DatabasePerformanceMonitor,
        monitor_database,
        optimize_database,
    )

__all__ = ["DatabaseMetrics", "DatabasePerformanceMonitor", "monitor_database", "optimize_database"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dbkeeper.monitoring import api

        return getattr(api, name)
    raise AttributeError(f"module 'dbkeeper.monitoring' has no attribute {name!r}")
