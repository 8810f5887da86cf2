"""The DuckDB dialect: the checklist of ``docs/writing-a-plugin.md``, filled in for an embedded columnar engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from dbkeeper.contract.dialect import BackupSupport, Capabilities, Dialect, ErrorClassifier, QueryPlan
from dbkeeper.contract.introspection import IndexInfo, TableInfo
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL
from dbkeeper_duckdb.session import DuckDBSession

#: URL options passed to ``duckdb.connect`` (anything else is refused, with this list).
ALLOWED_OPTIONS = ("threads", "memory_limit")


class DuckDBErrors(ErrorClassifier):
    """The duckdb driver's exceptions."""

    def is_disconnect(self, exc: BaseException) -> bool:
        import duckdb

        return isinstance(exc, duckdb.ConnectionException)


class DuckDBBackup(BackupSupport):
    """A JSON-lines export of every table and view, loaded back in one transaction (:mod:`dbkeeper_duckdb.dump`)."""

    def dump(self, connection: DatabaseConnection, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        from dbkeeper_duckdb.dump import dump

        return dump(self.dialect, connection, sink, options)

    def restore(self, connection: DatabaseConnection, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        from dbkeeper_duckdb.dump import restore

        return restore(self.dialect, connection, source, options)


class DuckDBDialect(Dialect):
    name = "duckdb"
    #: How the driver's exceptions read (retry, discard, constraint, code).
    errors_class = DuckDBErrors
    #: How it is backed up, restored and checked.
    backup_class = DuckDBBackup
    schemes = ("duckdb",)
    db_type = "custom"
    default_port = None
    #: DuckDB binds ``$1`` and ``$name``; the core rewrites ``?`` and ``:name`` into them.
    paramstyle = "dollar"
    #: No SQLAlchemy dialect is installed for DuckDB: tables and descriptions come from information_schema.
    sqlalchemy_name = None
    information_schema_scope = "current_schema()"
    upsert_style = "on_conflict"
    insert_returning = True
    capabilities = Capabilities(
        sql=True, transactions=True, savepoints=False, transactional_ddl=True, server=False, bulk_insert=True,
        introspection=True, explain=True, dump=True, restore=True, incremental=True, migration_lock=True,
        render_ddl=False, collect_metrics=False, asyncio=False, foreign_key_actions=False, alter_column=False,
        migrations=False,
    )

    # -- connecting -----------------------------------------------------------------------------
    def connect(self, url: DatabaseURL, *, timeout: float | None = None, autocommit: bool = True) -> DuckDBSession:
        """One DuckDB connection (autocommit, as DuckDB's are), in the session shape the core pools."""
        import duckdb

        unknown = sorted(set(url.options) - set(ALLOWED_OPTIONS))
        if unknown:
            raise ConfigurationError(f"unknown duckdb URL option {unknown[0]!r}; allowed: {', '.join(ALLOWED_OPTIONS)}")
        config = {key: url.options[key] for key in ALLOWED_OPTIONS if key in url.options}
        return DuckDBSession(duckdb.connect(url.database or ":memory:", config=config))

    def single_connection(self, url: DatabaseURL) -> bool:
        """Every ``duckdb.connect(":memory:")`` is a database of its own: one connection must serve all."""
        return url.is_memory

    def server_version(self, conn: DuckDBSession) -> str:
        row = conn.raw.execute("SELECT version()").fetchone()
        return f"DuckDB {row[0]}" if row else "unknown"

    # -- introspection ----------------------------------------------------------------------------
    def introspect(self, connection: DatabaseConnection, tables: Sequence[str] | None = None) -> list[TableInfo]:
        """information_schema (the core's default), plus the plain indexes only ``duckdb_indexes()`` lists."""
        infos = super().introspect(connection, tables)
        if not infos:
            return infos
        indexes: dict[str, list[IndexInfo]] = {}
        for row in connection.execute(
                "SELECT table_name, index_name, is_unique, expressions FROM duckdb_indexes() "
                "WHERE schema_name = current_schema() ORDER BY index_name").rows:
            columns = tuple(_identifier(text) for text in _expressions(row["expressions"]))
            indexes.setdefault(row["table_name"], []).append(
                IndexInfo(name=row["index_name"], columns=columns, unique=bool(row["is_unique"])))
        return [TableInfo(name=i.name, columns=i.columns, primary_key=i.primary_key,
                          indexes=i.indexes + tuple(indexes.get(i.name, ())), foreign_keys=i.foreign_keys,
                          schema=i.schema, comment=i.comment, extra=i.extra) for i in infos]

    def explain(self, connection: DatabaseConnection, query: str, params: Any = None) -> QueryPlan:
        rows = connection.execute(f"EXPLAIN {query}", params).rows
        text = "\n".join(str(r.get("explain_value", "")) for r in rows)
        return QueryPlan(dialect=self.name, query=query, text=text, raw=rows)

    # -- migrations ------------------------------------------------------------------------------
    def migration_lock(self, connection: DatabaseConnection, name: str, timeout: float) -> AbstractContextManager[Any]:
        """An OS lock on a side file beside the database (the guide's "Embedded engines"); process-local in memory."""
        from dbkeeper.migrations.locking import FileLock, ProcessLock

        url = connection.url
        if url.is_memory:
            return ProcessLock(f"{id(connection)}:{name}", name, timeout)
        path = Path(url.database or "").expanduser().resolve()
        return FileLock(path.with_name(f"{path.name}.migrate.lock"), name, timeout)


def _expressions(text: str) -> list[str]:
    """The list ``duckdb_indexes().expressions`` prints: ``[item_id]``, ``['"name"']``, ``[a, b]``."""
    inner = text.strip()[1:-1]
    parts = [part.strip() for part in inner.split(", ")] if inner else []
    return [part[1:-1] if len(part) >= 2 and part[0] == part[-1] == "'" else part for part in parts]


def _identifier(text: str) -> str:
    """A column name from ``duckdb_indexes().expressions`` (``"name"`` quoted, ``item_id`` bare)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text
