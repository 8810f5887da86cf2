"""Every dbkeeper hook, declared once; each docstring is the hook's reference.

Plugins implement hooks with ``@dbkeeper.hookimpl`` and pass arguments by
keyword, so an implementation may accept any subset of the arguments listed
here; hooks can gain arguments later without breaking existing plugins.

Operation hooks are ``firstresult``: the first implementation that returns
something other than ``None`` wins. The core registers a ``trylast``
implementation of each that delegates to the :class:`~dbkeeper.dialect.Dialect`
object, so a dialect plugin usually only subclasses ``Dialect``; a third party
can still take over one operation for one dialect with a ``tryfirst``
implementation that returns ``None`` for dialects it does not handle.

``docs/hooks.md`` repeats each signature; a test keeps the two identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from dbkeeper.connection import DatabaseConnection
    from dbkeeper.dialect import DBAPIConnection, Dialect, QueryPlan
    from dbkeeper.introspection import TableInfo
    from dbkeeper.schema.model import SchemaDefinition
    from dbkeeper.urls import DatabaseURL

hookspec = pluggy.HookspecMarker("dbkeeper")


@hookspec
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    """Register the dialects a plugin provides.

    Called once per plugin when plugins load. Call ``register(DialectClass)``
    for each :class:`~dbkeeper.dialect.Dialect` subclass. Registering a name
    or URL scheme that another plugin already registered raises
    :class:`~dbkeeper.errors.PluginError`, which marks this plugin as failed
    (the others keep working). Returns nothing.
    """


@hookspec
def dbkeeper_register_commands(cli: click.Group) -> None:
    """Add commands to the ``dbkeeper`` command line.

    ``cli`` is the top-level :class:`click.Group`; call ``cli.add_command(...)``.
    Called when the CLI starts, for every plugin; a plugin whose
    implementation raises is reported by ``dbkeeper plugins`` and its commands
    are missing, while the rest of the CLI works. Returns nothing.
    """


@hookspec(firstresult=True)
def dbkeeper_connect(dialect: Dialect, url: DatabaseURL, options: Mapping[str, Any]) -> DBAPIConnection | None:
    """Open one DBAPI connection for the connection pool.

    ``dialect`` is the registered dialect serving ``url``; ``options`` holds
    ``timeout`` (seconds or ``None``) and ``autocommit`` (bool). Return a
    DBAPI 2.0 connection, or ``None`` to let the next implementation try.
    First non-``None`` result wins; the core's fallback calls
    ``dialect.connect(url, timeout=..., autocommit=...)``.
    """


@hookspec(firstresult=True)
def dbkeeper_introspect(dialect: Dialect, connection: DatabaseConnection,
                        tables: Sequence[str] | None) -> list[TableInfo] | None:
    """Describe tables of the connected database.

    ``tables`` limits the result to those names; ``None`` means every user
    table. Return a list of :class:`~dbkeeper.introspection.TableInfo` (in
    the order asked for, or sorted by name), or ``None`` to defer. First
    non-``None`` result wins; the core's fallback calls
    ``dialect.introspect(connection, tables)``.
    """


@hookspec(firstresult=True)
def dbkeeper_introspect_schema(dialect: Dialect, connection: DatabaseConnection,
                               options: Mapping[str, Any]) -> SchemaDefinition | None:
    """Read the whole schema of the connected database into one :class:`~dbkeeper.schema.model.SchemaDefinition`.

    Tables (columns, types, defaults, identity, generated columns, comments),
    primary and foreign keys with their actions, unique and check
    constraints, indexes, views, enums and sequences, in one batched pass
    over the catalog. ``options`` is reserved for future filters (pass
    ``{}``). Used by ``dbkeeper schema dump|diff|migration`` and
    :mod:`dbkeeper.schema`; the differ normalises what it returns, so report
    what the database stores. Return ``None`` to defer. First non-``None``
    result wins; the core's fallback calls ``dialect.introspect_schema(connection)``.
    """


@hookspec(firstresult=True)
def dbkeeper_dump(dialect: Dialect, connection: DatabaseConnection, sink: IO[bytes],
                  options: Mapping[str, Any]) -> dict[str, Any] | None:
    """Stream a logical dump of the connected database into ``sink``.

    ``sink`` is a binary stream opened for writing; write to it in pieces,
    never building the whole dump in memory. ``options`` carries
    ``include_schema`` and ``include_data`` (bools), ``backup_type``,
    ``workers``, ``chainable`` (dialects with the ``incremental``
    capability: write a deterministic stream and return ``"chainable":
    True``) and, for incrementals and differentials, ``base_dump``: the
    metadata the base's dump returned. The backup's sink also offers
    ``cut()`` (end the current chunk; returns the position in the chunk
    sequence) and ``reuse_base(start, end)`` (append that span of the base's
    sequence unread), for dialects that can prove parts unchanged since the
    base (:mod:`dbkeeper.backup.export`). Return a dict of metadata for the
    manifest (tool and server versions, format) that holds nothing secret,
    or ``None`` to defer. A ``"warnings"`` list of strings in it reaches the
    user (``BackupResult.warnings``, the CLI): what the backup could not do
    as asked, such as a parallel export that fell back to one session. A
    dialect that reuses a base's key ranges returns ``ranges_exported`` and
    ``ranges_reused`` counts, and ``reuse_skipped`` (why) when it could
    reuse none; the user is warned when ranges were exported for that
    reason. First non-``None`` result wins; the fallback calls
    ``dialect.dump(...)``.
    """


@hookspec(firstresult=True)
def dbkeeper_restore(dialect: Dialect, connection: DatabaseConnection, source: IO[bytes],
                     options: Mapping[str, Any]) -> dict[str, Any] | None:
    """Load a dump made by ``dbkeeper_dump`` from ``source`` into the connected database.

    ``source`` is a binary stream of the verified plain dump; ``options``
    carries the dump's metadata under ``"manifest"`` plus restore settings.
    Return a dict describing what was restored, or ``None`` to defer. First
    non-``None`` result wins; the fallback calls ``dialect.restore(...)``.
    """


@hookspec(firstresult=True)
def dbkeeper_render_ddl(dialect: Dialect, obj: Any, options: Mapping[str, Any]) -> list[str] | None:
    """Render DDL statements for a schema object in the dialect's SQL.

    ``obj`` is a schema object (a table, index or whole schema definition);
    ``options`` may ask for ``if_not_exists`` and similar variants. Return
    the statements in execution order, or ``None`` to defer. First
    non-``None`` result wins; the fallback calls ``dialect.render_ddl(...)``.
    """


@hookspec(firstresult=True)
def dbkeeper_collect_metrics(dialect: Dialect, connection: DatabaseConnection) -> dict[str, Any] | None:
    """Read the database's native statistics.

    Return a flat dict of counters and gauges; a statistic the role may not
    read is reported as ``None`` with a reason, never as zero. ``None`` defers
    to the next implementation. First non-``None`` result wins; the fallback
    calls ``dialect.collect_metrics(connection)``.
    """


@hookspec(firstresult=True)
def dbkeeper_explain(dialect: Dialect, connection: DatabaseConnection, query: str,
                     params: Any) -> QueryPlan | None:
    """Return the execution plan of ``query`` without running it.

    ``params`` are bound as for ``execute``. Return a
    :class:`~dbkeeper.dialect.QueryPlan`, or ``None`` to defer. First
    non-``None`` result wins; the fallback calls ``dialect.explain(...)``.
    """


@hookspec(firstresult=True)
def dbkeeper_migration_lock(dialect: Dialect, connection: DatabaseConnection, name: str,
                            timeout: float) -> AbstractContextManager[Any] | None:
    """Return a context manager that holds the migration lock ``name`` on the database.

    Entering it waits at most ``timeout`` seconds and raises a
    :class:`~dbkeeper.errors.DbKeeperError` naming the holder when the lock
    stays taken; leaving it releases the lock. A crashed holder must not
    leave the lock taken. ``None`` defers. First non-``None`` result wins;
    the fallback calls ``dialect.migration_lock(...)``.
    """
