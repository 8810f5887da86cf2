"""``lint_directory``: the library face of ``dbkeeper migrate lint``.

Without a database the rules judge the text alone, for the dialect named
(and the ``target_version`` given); every migration of the directory is
linted. With a database its server answers the rules' questions and only
the migrations not applied there are linted (``everything=True`` lints all),
since an applied migration's locks are history.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dbkeeper.errors import ConfigurationError
from dbkeeper.migrations.lint.model import LintReport
from dbkeeper.migrations.lint.runner import lint_migrations, rules_for

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL

__all__ = ["lint_directory"]


def lint_directory(directory: str | os.PathLike[str], *, database: str | DatabaseURL | DatabaseConnection | None = None,
                   dialect: str | None = None, target_version: str | None = None, everything: bool = False,
                   table: str = "dbkeeper_migrations") -> LintReport:
    """Lint the migrations in ``directory``; see the module docstring for what ``database`` changes."""
    from dbkeeper.migrations.files import load_directory
    from dbkeeper.migrations.planner import build_graph

    graph = build_graph(load_directory(directory))
    if database is None:
        if dialect is None:
            raise ConfigurationError("migrate lint needs --dialect NAME (offline) or --db URL (ask the server)")
        from dbkeeper.engine.plugins import get_registry

        rules = rules_for(get_registry().get_dialect(dialect))
        if target_version:
            try:
                rules.assume_target(target_version)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        return lint_migrations(graph.ordered, rules)
    from dbkeeper.migrations.connect import open_connection
    from dbkeeper.migrations.migrator import Migrator

    connection, owned = open_connection(database)
    try:
        migrations = graph.ordered
        if not everything:
            rows = Migrator(connection, graph, table=table).read_history()
            migrations = [m for m in migrations if m.id not in rows or rows[m.id].status != "applied"]
        rules = rules_for(connection.dialect, connection)
        try:
            return lint_migrations(migrations, rules)
        finally:
            rules.close()
    finally:
        if owned:
            connection.disconnect()

