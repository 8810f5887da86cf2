"""The core's ``trylast`` hook implementations: delegate each operation to the dialect.

Registered first by the plugin manager, so every operation hook has an
answer; plugins that want to take over an operation implement the hook
themselves (``tryfirst``) and return ``None`` for dialects they leave alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dbkeeper.connection import DatabaseConnection
    from dbkeeper.dialect import DBAPIConnection, Dialect, QueryPlan
    from dbkeeper.introspection import TableInfo
    from dbkeeper.schema.model import SchemaDefinition
    from dbkeeper.urls import DatabaseURL

hookimpl = pluggy.HookimplMarker("dbkeeper")


@hookimpl(trylast=True)
def dbkeeper_connect(dialect: Dialect, url: DatabaseURL, options: Mapping[str, Any]) -> DBAPIConnection:
    return dialect.connect(url, timeout=options.get("timeout"), autocommit=options.get("autocommit", True))


@hookimpl(trylast=True)
def dbkeeper_introspect(dialect: Dialect, connection: DatabaseConnection,
                        tables: Sequence[str] | None) -> list[TableInfo]:
    return dialect.introspect(connection, tables)


@hookimpl(trylast=True)
def dbkeeper_introspect_schema(dialect: Dialect, connection: DatabaseConnection,
                               options: Mapping[str, Any]) -> SchemaDefinition:
    return dialect.introspect_schema(connection)


@hookimpl(trylast=True)
def dbkeeper_dump(dialect: Dialect, connection: DatabaseConnection, sink: IO[bytes],
                  options: Mapping[str, Any]) -> dict[str, Any]:
    return dialect.dump(connection, sink, options)


@hookimpl(trylast=True)
def dbkeeper_restore(dialect: Dialect, connection: DatabaseConnection, source: IO[bytes],
                     options: Mapping[str, Any]) -> dict[str, Any]:
    return dialect.restore(connection, source, options)


@hookimpl(trylast=True)
def dbkeeper_render_ddl(dialect: Dialect, obj: Any, options: Mapping[str, Any]) -> list[str]:
    return dialect.render_ddl(obj, options)


@hookimpl(trylast=True)
def dbkeeper_collect_metrics(dialect: Dialect, connection: DatabaseConnection) -> dict[str, Any]:
    return dialect.collect_metrics(connection)


@hookimpl(trylast=True)
def dbkeeper_explain(dialect: Dialect, connection: DatabaseConnection, query: str, params: Any) -> QueryPlan:
    return dialect.explain(connection, query, params)


@hookimpl(trylast=True)
def dbkeeper_migration_lock(dialect: Dialect, connection: DatabaseConnection, name: str,
                            timeout: float) -> AbstractContextManager[Any]:
    return dialect.migration_lock(connection, name, timeout)
