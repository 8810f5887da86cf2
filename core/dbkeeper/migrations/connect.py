"""Open the connection a migration run uses, from whatever the caller has.

Runs started by dbkeeper use a pool of exactly one connection, so every
statement of a run executes in one session, in order, like a psql or mysql
script; the migration lock takes a second, dedicated connection of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL

#: Pool settings of a migration run's connection.
RUN_POOL: Mapping[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 600.0}


def open_connection(database: str | DatabaseURL | DatabaseConnection | None) -> tuple[DatabaseConnection, bool]:
    """A connected :class:`DatabaseConnection` and whether the caller must close it.

    ``database`` is a URL, a connection name from ``dbkeeper.toml``, ``None``
    (``DBKEEPER_URL``, then the config's default; see
    :func:`dbkeeper.config.resolve_database`), or an existing connection,
    which is used as is (connected if needed) and left open.
    """
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL

    if isinstance(database, DatabaseConnection):
        database.connect()
        return database, False
    name: str | None
    options: Mapping[str, Any]
    if isinstance(database, DatabaseURL):
        name, url, options = None, database, {}
    else:
        from dbkeeper.config import resolve_database

        name, url, options = resolve_database(database)
    settings = {**dict(options), **RUN_POOL}
    connection = DatabaseConnection.from_url(url, name=name, record_queries=False, **settings)
    connection.connect()
    return connection, True
