"""``run_migrations``: the seed API's one-call entry point, with its documented return shapes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dbkeeper.migrations.errors import InvalidDirectionError
from dbkeeper.migrations.history import DEFAULT_TABLE
from dbkeeper.migrations.locking import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL

DIRECTIONS = ("up", "down")


def run_migrations(migration_dir: str | os.PathLike[str], database_url: str | DatabaseURL | DatabaseConnection,
                   direction: str = "up", *, target: str | None = None, table: str = DEFAULT_TABLE,
                   lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> dict[str, Any]:
    """Apply pending migrations (``up``) or roll back the latest one (``down``) in ``migration_dir``.

    Returns, for ``up``::

        {"direction": "up", "migrations_processed": int, "successful": int, "failed": int,
         "success": bool, "results": [{"migration_id", "success", "execution_time", "error_message"}, ...]}

    and for ``down`` (``result`` is ``None`` when nothing was applied)::

        {"direction": "down", "migrations_processed": int, "success": bool,
         "result": {"migration_id", "success", "execution_time", "error_message"} | None}

    ``target`` is ``--to``: apply up to and including it, or roll back every
    migration applied after it. A direction other than ``up``/``down`` raises
    :class:`InvalidDirectionError` before anything is read; invalid files,
    drift and repair-needed states raise their
    :class:`~dbkeeper.migrations.errors.MigrationError` before anything runs.
    A migration whose SQL fails is reported in the result (``success`` false).
    """
    if direction not in DIRECTIONS:
        raise InvalidDirectionError(f"invalid migration direction {direction!r}; use 'up' or 'down'")
    from dbkeeper.migrations.connect import open_connection
    from dbkeeper.migrations.files import load_directory
    from dbkeeper.migrations.migrator import Migrator
    from dbkeeper.migrations.planner import build_graph

    graph = build_graph(load_directory(migration_dir))
    connection, owned = open_connection(database_url)
    try:
        migrator = Migrator(connection, graph, table=table, lock_timeout=lock_timeout)
        if direction == "up":
            return migrator.up(target=target).to_dict()
        report = migrator.down(target=target)
        results = report.results
        return {
            "direction": "down",
            "migrations_processed": len(results),
            "success": report.success,
            "result": results[-1].to_dict() if len(results) == 1 else
            (None if not results else _combined(results)),
        }
    finally:
        if owned:
            connection.disconnect()


def _combined(results: list[Any]) -> dict[str, Any]:
    """One ``result`` dict for a multi-step rollback (``--to``): the failing step, else the last."""
    failed = [r for r in results if not r.success]
    chosen = failed[0] if failed else results[-1]
    data: dict[str, Any] = chosen.to_dict()
    data["execution_time"] = sum(r.execution_time for r in results)
    return data
