"""``DatabaseManager``: many named connections behind one pooled, logged API.

The manager keeps a dict of :class:`~dbkeeper.engine.connection.DatabaseConnection`
objects by name and a *current* connection: the one that ``connect(url)``
opened last (or the one ``use(name)`` picked). Methods without a connection
name (``execute``, ``transaction``, ``bulk_insert``, ``get_tables``, the CRUD
helpers ``insert``/``select``/``get``/``update``/``delete``/``upsert``...) act
on the current connection.

Compatibility entry points for code written against a pooled "database
manager" (``DatabaseManager(db_config)``, ``setup_logger()``,
``initialize_connection_pool()``, ``execute_query(query, params)``,
``close_pool()``): the constructor and :meth:`DatabaseManager.connect` accept
a configuration dict instead of a URL, ``execute_query`` accepts
``(query, params)`` (rows come back as :class:`~dbkeeper.result.Row`, which
index like ``cursor.fetchall()`` rows and answer by column name) as well as
``(name, query, params)`` (rows as dicts), and
:meth:`DatabaseManager.close_pool` closes every pool. Pool set-up, pool
closing and every failed statement are logged on the ``DatabaseManager``
logger, as that form's users read them; passwords never reach a message.

Where the seed API's shape and dbkeeper's richer one differ, the seed name
keeps the documented shape and the rich form sits beside it:
:meth:`DatabaseManager.list_connections` (names) beside
:meth:`DatabaseManager.describe_connections`,
:meth:`DatabaseManager.get_table_info` (one dict per column) beside
:meth:`DatabaseManager.describe_table`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload

from dbkeeper.crud.methods import CrudMethods
from dbkeeper.engine.connection import DatabaseConnection, Transaction
from dbkeeper.errors import ClosedError, ConfigurationError, DbKeeperError
from dbkeeper.redaction import redact
from dbkeeper.result import QueryResult, Row
from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from dbkeeper.crud.read_cache import QueryCache
    from dbkeeper.engine.pool import ConnectionPool

logger = logging.getLogger("dbkeeper")
#: The logger the pooled-CRUD form logs on (its users configure and read this name).
seed_logger = logging.getLogger("DatabaseManager")
_UNSET: Any = object()
#: Marks the handler :meth:`DatabaseManager.setup_logger` added, so calling it again adds no second one.
_HANDLER_MARK = "_dbkeeper_setup_logger"


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    ``logging.StreamHandler()`` binds the stream of the moment; a process
    that swaps ``sys.stderr`` later (click's test runner, a daemon that
    redirects it) then gets "--- Logging error ---" tracebacks from a closed
    stream. ``logging.lastResort`` resolves the stream the same way.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """StreamHandler's constructor assigns a stream; the current one is always used instead."""


class DatabaseManager(CrudMethods):
    """Pooled access to one or more databases.

    ``DatabaseManager("sqlite:///app.db")`` connects straight away; with no
    argument it starts empty and :meth:`connect` or :meth:`add_connection`
    adds databases. ``pool_options`` (``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_recycle``, ``pre_ping``, ``connection_timeout``,
    ``max_retries``) apply to connections the manager creates from URLs.

    Compatibility entry point: ``DatabaseManager(db_config)`` with a dict
    ``{"user", "password", "host", "port", "database"}`` and an optional
    ``"dialect"`` (default ``postgresql``, as such configs assume), ``"name"``
    and pool options. As in the form it comes from, that constructor calls
    :meth:`setup_logger` and :meth:`initialize_connection_pool` (which
    raises when the database cannot be reached). ``cache`` turns on the read
    cache of the CRUD helpers (a :class:`~dbkeeper.crud.read_cache.QueryCache`,
    or True for the defaults); it is off by default.
    """

    def __init__(self, database_url: str | DatabaseURL | Mapping[str, Any] | None = None, *,
                 cache: QueryCache | bool | None = None, **pool_options: Any) -> None:
        self._connections: dict[str, DatabaseConnection] = {}
        self._current: str | None = None
        self._lock = threading.RLock()
        self._pool_options = pool_options
        self._cache: QueryCache | None = None
        #: The configuration dict of the pooled-CRUD form (``None`` when built from a URL).
        self.db_config: dict[str, Any] | None = dict(database_url) if isinstance(database_url, Mapping) else None
        self.logger = seed_logger
        if cache is True:
            self.enable_cache()
        elif cache is not None and cache is not False:
            self.enable_cache(cache)
        if self.db_config is not None:
            self.setup_logger()
            self.initialize_connection_pool()
        elif database_url is not None:
            self.connect(database_url)

    # -- the pooled-CRUD form's set-up -----------------------------------------------------
    def setup_logger(self) -> logging.Logger:
        """Give the ``DatabaseManager`` logger a stderr handler and INFO level, as the pooled-CRUD form does.

        Idempotent (a second call, or a second manager, adds no second
        handler), and a level the application already set is kept.
        """
        log = self.logger
        if not any(getattr(h, _HANDLER_MARK, False) for h in log.handlers):
            handler = _CurrentStderrHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
            setattr(handler, _HANDLER_MARK, True)
            log.addHandler(handler)
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        return log

    def initialize_connection_pool(self) -> None:
        """Open the pool of the configured database (again, after :meth:`close_pool`).

        With a configuration dict and no connection yet, it connects to that
        configuration; otherwise it reconnects every registered connection.
        Success is logged at INFO; a failure is logged at ERROR (password
        removed) and raised.
        """
        try:
            if self.db_config is not None and not self._connections:
                self.connect(self.db_config)
            else:
                for connection in list(self._connections.values()):
                    connection.connect()
        except Exception as exc:
            self.logger.error("Failed to initialize connection pool: %s", self._redacted(exc))
            raise
        self.logger.info("Database connection pool initialized successfully.")

    @property
    def connection_pool(self) -> ConnectionPool | None:
        """The pool of the current connection (``None`` before connecting and after :meth:`close_pool`)."""
        current = self._connections.get(self._current) if self._current is not None else None
        return current._pool if current is not None else None

    def _redacted(self, exc: BaseException) -> str:
        """``exc`` as text without any password this manager knows (its config's and its connections')."""
        secrets: list[str | None] = [c.password for c in self._connections.values()]
        secrets += [c.url.password for c in self._connections.values()]
        if self.db_config is not None:
            secrets.append(str(self.db_config.get("password") or "") or None)
        return redact(str(exc), tuple(secrets))

    # -- managing connections --------------------------------------------------------
    def add_connection(self, connection: DatabaseConnection) -> DatabaseConnection:
        """Register ``connection`` under its name (not connected yet). Duplicate names are an error."""
        with self._lock:
            if connection.name in self._connections:
                raise ConfigurationError(
                    f"a connection named {connection.name!r} already exists; remove it first or pick another name"
                )
            self._connections[connection.name] = connection
            if self._current is None:
                self._current = connection.name
            if self._cache is not None and connection.query_cache is None:
                connection.query_cache = self._cache
        return connection

    def remove_connection(self, name: str) -> bool:
        """Disconnect and forget the connection ``name``; False if there was none."""
        with self._lock:
            connection = self._connections.pop(name, None)
            if connection is None:
                return False
            if self._current == name:
                self._current = next(iter(self._connections), None)
        connection.disconnect()
        return True

    @overload
    def get_connection(self, name: str) -> DatabaseConnection | None: ...
    @overload
    def get_connection(self, name: None = None) -> DatabaseConnection: ...

    def get_connection(self, name: str | None = None) -> DatabaseConnection | None:
        """Seed API: the connection called ``name``, or ``None`` when there is none.

        Without ``name``: the current connection (``ClosedError`` when the
        manager has none). :meth:`require_connection` raises for an unknown
        name instead.
        """
        if name is not None:
            return self._connections.get(name)
        return self.require_connection()

    def require_connection(self, name: str | None = None) -> DatabaseConnection:
        """The connection called ``name`` (the current one when ``name`` is None); raises when unknown."""
        key = name if name is not None else self._current
        if key is None:
            raise ClosedError("the manager has no connection; call connect(url) or add_connection() first")
        try:
            return self._connections[key]
        except KeyError:
            known = ", ".join(sorted(self._connections)) or "none"
            raise ConfigurationError(f"no connection named {key!r}; known: {known}") from None

    def list_connections(self) -> list[str]:
        """Seed API: the names of the registered connections, in the order they were added."""
        return list(self._connections)

    def describe_connections(self) -> list[dict[str, Any]]:
        """Name, type, redacted URL and state of every connection."""
        return [
            {"name": c.name, "db_type": c.db_type.value, "url": c.get_connection_string(),  # type: ignore[union-attr]
             "connected": c.is_connected, "current": c.name == self._current}
            for c in self._connections.values()
        ]

    def use(self, name: str) -> DatabaseConnection:
        """Make ``name`` the current connection."""
        connection = self.require_connection(name)
        self._current = name
        return connection

    def connect_all(self) -> dict[str, bool]:
        """Connect every registered connection; return which succeeded (errors are logged)."""
        outcome: dict[str, bool] = {}
        for name, connection in list(self._connections.items()):
            try:
                connection.connect()
                outcome[name] = True
            except DbKeeperError as exc:
                logger.error("cannot connect %s: %s", name, exc)
                outcome[name] = False
        return outcome

    def disconnect_all(self) -> None:
        """Close every pool. Connections stay registered and can reconnect."""
        for connection in list(self._connections.values()):
            connection.disconnect()

    def close_pool(self) -> None:
        """Compatibility entry point: close every pool, as ``close_pool()``-style code expects.

        Like :meth:`disconnect_all`, plus the pooled-CRUD form's log lines:
        "Database connection pool closed." at INFO, or the error at ERROR
        (not raised, as in that form). The connections stay registered and
        the next statement on one fails with ``ClosedError`` until
        :meth:`initialize_connection_pool` opens them again.
        """
        try:
            self.disconnect_all()
        except Exception as exc:
            self.logger.error("Error closing connection pool: %s", self._redacted(exc))
            return
        self.logger.info("Database connection pool closed.")

    def connect(self, database_url: str | DatabaseURL | Mapping[str, Any] | None = None, name: str | None = None,
                **pool_options: Any) -> DatabaseConnection:
        """Open (or reuse) a pooled connection to ``database_url`` and make it current.

        ``database_url`` may also be a configuration dict (see the class doc).
        Seed API: without one, the current connection is (re)connected, or,
        when the manager has none, the default database (``DBKEEPER_URL``,
        else ``default = "NAME"`` in ``dbkeeper.toml``).
        """
        if database_url is None:
            if self._current is not None:
                return self.require_connection().connect()
            from dbkeeper.config import resolve_database

            default_name, database_url, from_config = resolve_database(None)
            pool_options = {**from_config, **pool_options}
            name = name if name is not None else default_name
        if isinstance(database_url, Mapping):
            database_url, from_config, config_name = _url_from_config(database_url)
            pool_options = {**from_config, **pool_options}
            name = name if name is not None else config_name
        options = {**self._pool_options, **pool_options}
        if self._cache is not None:
            options.setdefault("query_cache", self._cache)
        connection = DatabaseConnection.from_url(database_url, name=name, **options)
        with self._lock:
            existing = self._connections.get(connection.name)
            if existing is not None and existing.url == connection.url:
                connection = existing
            elif existing is not None:
                raise ConfigurationError(
                    f"a connection named {connection.name!r} already points at {existing.url.render()}; "
                    f"pass name=... to connect to {connection.url.render()} as well"
                )
            else:
                self._connections[connection.name] = connection
            self._current = connection.name
        try:
            connection.connect()
        except BaseException:
            with self._lock:
                if existing is None:
                    self._connections.pop(connection.name, None)
                    if self._current == connection.name:
                        self._current = next(iter(self._connections), None)
            raise
        return connection

    def disconnect(self, connection_id: str | None = None) -> None:
        """Close the pool of ``connection_id`` (the current connection when None)."""
        if connection_id is None and self._current is None:
            return
        self.require_connection(connection_id).disconnect()

    def __enter__(self) -> DatabaseManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect_all()

    # -- the read cache -----------------------------------------------------------------
    @property
    def cache(self) -> QueryCache | None:
        """The read cache shared by this manager's connections, or None when it is off."""
        return self._cache

    def enable_cache(self, cache: QueryCache | None = None, **settings: Any) -> QueryCache:
        """Turn the read cache on for every connection of this manager; return it.

        Pass a :class:`~dbkeeper.crud.read_cache.QueryCache`, or its settings
        (``max_entries``, ``ttl``, ``max_rows``, ``scope``).
        """
        from dbkeeper.crud.read_cache import QueryCache

        if cache is None:
            cache = QueryCache(**settings)
        elif settings:
            raise ConfigurationError("enable_cache: pass a QueryCache or settings, not both")
        with self._lock:
            previous, self._cache = self._cache, cache
            for connection in self._connections.values():
                if connection.query_cache is None or connection.query_cache is previous:
                    connection.query_cache = cache
        return cache

    def disable_cache(self) -> None:
        """Turn the manager's read cache off (and forget its entries)."""
        with self._lock:
            cache, self._cache = self._cache, None
            for connection in self._connections.values():
                if connection.query_cache is cache:
                    connection.query_cache = None
        if cache is not None:
            cache.clear()

    # -- running statements --------------------------------------------------------------
    def execute(self, query: str, params: Any = None, *, cache: bool = False,
                cache_tables: Sequence[str] | None = None) -> QueryResult:
        """Run one statement on the current connection (see :meth:`DatabaseConnection.execute`).

        ``cache=True`` marks a read as cacheable when the read cache is on:
        its result is kept until any write through this manager
        (``cache_tables`` narrows that to writes to the named tables, which
        must then be every table the query reads) or until the TTL ends.
        """
        try:
            if cache:
                from dbkeeper.crud.read_cache import cached_execute

                return cached_execute(self.require_connection(), query, params, cache_tables)
            return self.require_connection().execute(query, params)
        except Exception as exc:
            self._log_failure(query, exc)
            raise

    def execute_many(self, query: str, params_list: Iterable[Any]) -> QueryResult:
        """Run ``query`` once per parameter set, atomically, on the current connection."""
        try:
            return self.require_connection().execute_many(query, params_list)
        except Exception as exc:
            self._log_failure(query, exc)
            raise

    @overload
    def execute_query(self, name: str, query: str, params: Any = None) -> list[dict[str, Any]]: ...
    @overload
    def execute_query(self, name: str | None = None, query: Any = _UNSET, params: Any = None) -> list[Row]: ...

    def execute_query(self, name: str | None = None, query: Any = _UNSET,
                      params: Any = None) -> list[dict[str, Any]] | list[Row]:
        """Seed API: run ``query`` on the connection ``name`` and return rows as dicts.

        Pooled-CRUD form: ``execute_query(query, params)`` (the second
        argument is not a string; ``query=``/``params=`` by keyword work
        too) runs ``query`` on the current connection
        and returns :class:`~dbkeeper.result.Row` objects, which index and
        unpack like ``cursor.fetchall()`` rows and answer by column name.
        Each statement is logged at DEBUG and each failure at ERROR on the
        ``DatabaseManager`` logger (parameter values are never logged).
        """
        positional = name is None or not isinstance(query, str)
        if name is None:  # execute_query(query=..., params=...) by keyword
            sql, args = query, params
        elif positional:
            sql, args = name, (params if query is _UNSET else query)
        else:
            sql, args = query, params
        if not isinstance(sql, str):
            raise ConfigurationError("execute_query needs the statement: execute_query(query, params) or "
                                     "execute_query(name, query, params)")
        try:
            connection = self.require_connection(None if positional else name)
            result = connection.execute(sql, args)
        except Exception as exc:
            self._log_failure(sql, exc)
            raise
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("Executed query on %s: %s (%d rows, %.3f ms)", connection.name, _shorten(sql),
                              result.row_count, result.execution_time * 1000)
        return result.records() if positional else result.rows

    def _log_failure(self, query: str, exc: BaseException) -> None:
        self.logger.error("Error executing query: %s, Error: %s", _shorten(query), self._redacted(exc))

    @contextmanager
    def transaction(self, name: str | None = None) -> Iterator[Transaction]:
        """A transaction on the current (or named) connection; nesting makes savepoints."""
        with self.require_connection(name).transaction() as tx:
            yield tx

    def bulk_insert(self, table: str | Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                    columns: Sequence[str] | None = None) -> int:
        """Insert many rows with the fastest safe path of the current database (COPY, multi-row, executemany)."""
        return self.require_connection().bulk_insert(table, rows, columns)

    def get_tables(self) -> list[str]:
        """Tables of the current database, sorted."""
        return self.require_connection().get_tables()

    def get_table_info(self, table_name: str) -> list[dict[str, Any]]:
        """Seed API: one dict per column of ``table_name`` in the current database, in table order.

        Keys: ``name``, ``type``, ``nullable``, ``default``, ``primary_key``,
        ``autoincrement``, ``comment``. :meth:`describe_table` has the whole
        table (keys, indexes, foreign keys, row count).
        """
        info = self.require_connection().introspect([table_name])[0]
        return [{"name": c.name, "type": c.type, "nullable": c.nullable, "default": c.default,
                 "primary_key": c.primary_key, "autoincrement": c.autoincrement, "comment": c.comment}
                for c in info.columns]

    def describe_table(self, table: str) -> dict[str, Any]:
        """Columns, keys, indexes and row count of ``table`` in the current database."""
        return self.require_connection().get_table_info(table)

    def health_check_all(self) -> dict[str, dict[str, Any]]:
        """Health report of every connection, by name."""
        return {name: c.health_check() for name, c in list(self._connections.items())}

    def get_database_stats(self) -> dict[str, Any]:
        """Totals and per-connection counters (statements, errors, time, pools) and read-cache counters."""
        per = {name: c.get_stats() for name, c in list(self._connections.items()) if c.is_connected}
        queries = sum(s["queries_executed"] for s in per.values())
        total_ms = sum(s["total_time_ms"] for s in per.values())
        return {
            "connections": len(self._connections),
            "connected": sum(1 for c in self._connections.values() if c.is_connected),
            "queries_executed": queries,
            "errors": sum(s["errors"] for s in per.values()),
            "total_time_ms": round(total_ms, 3),
            "average_time_ms": round(total_ms / queries, 3) if queries else 0.0,
            "per_connection": per,
            "cache": self._cache.stats() if self._cache is not None else {"enabled": False, "hits": 0, "misses": 0},
        }

    def _crud_target(self) -> tuple[DatabaseConnection, DatabaseConnection, bool]:
        connection = self.require_connection()
        return connection, connection, False

    def __repr__(self) -> str:
        return f"DatabaseManager(connections={sorted(self._connections)!r}, current={self._current!r})"


def _url_from_config(config: Mapping[str, Any]) -> tuple[DatabaseURL, dict[str, Any], str | None]:
    """``(url, pool options, name)`` from a ``{"user", "password", "host", "port", "database"}`` dict."""
    from dbkeeper.config import POOL_KEYS, url_from_parts

    allowed = {"dialect", "user", "username", "password", "host", "port", "database", "name"} | POOL_KEYS
    unknown = sorted(str(key) for key in config if key not in allowed)
    if unknown:
        raise ConfigurationError(f"database configuration: unknown keys {unknown}; allowed: "
                                 f"{', '.join(sorted(allowed))}")
    url = url_from_parts(config, where="database configuration")
    options = {key: value for key, value in config.items() if key in POOL_KEYS}
    name = config.get("name")
    return url, options, str(name) if name is not None else None


def manage_databases(database_url: str | DatabaseURL | None = None, **pool_options: Any) -> DatabaseManager:
    """Seed API: a :class:`DatabaseManager`, connected to ``database_url`` when one is given."""
    return DatabaseManager(database_url, **pool_options)


def _shorten(query: str, limit: int = 200) -> str:
    text = " ".join(str(query).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
