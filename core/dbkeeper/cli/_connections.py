"""``--db URL_OR_NAME``: the one option, the one resolver, the connection built from it.

Every command that names a database defines ``--db`` with :func:`db_option`
and resolves it (or any other URL-or-name option, such as ``backup restore
--to``) with :func:`resolve_db`, which records the secrets it sees for the
error boundary's redaction; ``tests/test_cli_layout.py`` checks that no
other module defines ``--db``.

Resolution is :func:`dbkeeper.config.resolve_database`: a URL, else a named
connection from ``dbkeeper.toml``; without ``--db``, ``DBKEEPER_URL``, then
the config's default connection. The dialect is resolved before anything
connects, so an unknown URL scheme is a usage error (exit 2) that names the
plugin to install, never a connection failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from dbkeeper.cli._interrupt import run_interruptibly
from dbkeeper.cli._state import get_state

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.urls import DatabaseURL

F = TypeVar("F", bound=Callable[..., Any])

DB_HELP = (
    "Database URL (sqlite:///app.db, postgresql://user@host/db) or a connection name from dbkeeper.toml. "
    "Defaults to $DBKEEPER_URL, then to the config's default connection."
)


@overload
def db_option(func: F, /) -> F: ...


@overload
def db_option(*, help: str = DB_HELP) -> Callable[[F], F]: ...


def db_option(func: F | None = None, /, *, help: str = DB_HELP) -> F | Callable[[F], F]:  # noqa: A002
    """Add the ``--db URL_OR_NAME`` option: ``@db_option``, or ``@db_option(help=...)`` for another help text."""
    option = click.option("--db", "db", metavar="URL_OR_NAME", default=None, help=help)
    return option(func) if func is not None else option


def remember_raw_secrets(ctx: click.Context, db: str | None) -> None:
    """Record the password in ``db`` (or ``$DBKEEPER_URL`` without it), even when it does not parse."""
    from dbkeeper.config import URL_ENV

    get_state(ctx).add_secrets_from_raw_url(db if db is not None else os.environ.get(URL_ENV))


def resolve_db(ctx: click.Context, db: str | None) -> tuple[str, DatabaseURL, Mapping[str, Any]]:
    """``--db`` (a URL, a connection name, or ``None``) as ``(name, url, options)``, its secrets recorded.

    :func:`dbkeeper.config.resolve_database` does the resolving; the
    passwords it meets go to the invocation's state, so the error boundary
    redacts them from any message.
    """
    from dbkeeper.config import resolve_database

    remember_raw_secrets(ctx, db)
    name, url, options = resolve_database(db)
    get_state(ctx).add_secret(url.password)
    return name, url, options


def build_connection(ctx: click.Context, db: str | None) -> DatabaseConnection:
    """Resolve ``--db`` into an unconnected, tracked connection whose dialect is known."""
    from dbkeeper.engine.connection import DatabaseConnection

    name, url, options = resolve_db(ctx, db)
    connection = get_state(ctx).track(DatabaseConnection.from_url(url, name=name, **options))
    connection.dialect  # noqa: B018 - an unknown scheme fails here, before any connection attempt
    return connection


def open_connection(ctx: click.Context, db: str | None, *, create: bool = False) -> DatabaseConnection:
    """Resolve ``--db`` and connect; ``create=False`` refuses to create a missing SQLite file.

    Only ``query`` may create a database (as the ``sqlite3`` shell does): for
    read-only commands a missing file is almost always a typo in the path,
    and silently creating an empty database would hide it.
    """
    from dbkeeper import errors

    connection = build_connection(ctx, db)
    missing = missing_sqlite_file(connection.url)
    if missing is not None and not create:
        raise errors.ConnectionError(
            f"SQLite database file {missing} does not exist; check the path "
            "(`dbkeeper query` creates a new database)"
        )
    run_interruptibly(connection.connect)
    return connection


def missing_sqlite_file(url: DatabaseURL) -> Path | None:
    """The path of a file-backed SQLite URL whose file does not exist yet, else ``None``."""
    if url.scheme != "sqlite" or url.is_memory or not url.database:
        return None
    path = Path(url.database).expanduser()
    return None if path.exists() else path
