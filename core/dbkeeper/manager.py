"""``DatabaseManager``: many named connections behind one pooled, logged API.

The manager keeps a dict of :class:`~dbkeeper.connection.DatabaseConnection`
objects by name and a *current* connection: the one that ``connect(url)``
opened last (or the one ``use(name)`` picked). Methods without a connection
name (``execute``, ``transaction``, ``bulk_insert``, ``get_tables``...) act on
the current connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dbkeeper.connection import DatabaseConnection, Transaction
from dbkeeper.errors import ClosedError, ConfigurationError, DbKeeperError
from dbkeeper.result import QueryResult
from dbkeeper.urls import DatabaseURL

logger = logging.getLogger("dbkeeper")


class DatabaseManager:
    """Pooled access to one or more databases.

    ``DatabaseManager("sqlite:///app.db")`` connects straight away; with no
    argument it starts empty and :meth:`connect` or :meth:`add_connection`
    adds databases. ``pool_options`` (``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_recycle``, ``pre_ping``, ``connection_timeout``,
    ``max_retries``) apply to connections the manager creates from URLs.
    """

    def __init__(self, database_url: str | DatabaseURL | None = None, **pool_options: Any) -> None:
        self._connections: dict[str, DatabaseConnection] = {}
        self._current: str | None = None
        self._lock = threading.RLock()
        self._pool_options = pool_options
        if database_url is not None:
            self.connect(database_url)

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

    def get_connection(self, name: str | None = None) -> DatabaseConnection:
        """The connection called ``name`` (the current one when ``name`` is None)."""
        key = name if name is not None else self._current
        if key is None:
            raise ClosedError("the manager has no connection; call connect(url) or add_connection() first")
        try:
            return self._connections[key]
        except KeyError:
            known = ", ".join(sorted(self._connections)) or "none"
            raise ConfigurationError(f"no connection named {key!r}; known: {known}") from None

    def list_connections(self) -> list[dict[str, Any]]:
        """Name, type, redacted URL and state of every connection."""
        return [
            {"name": c.name, "db_type": c.db_type.value, "url": c.get_connection_string(),  # type: ignore[union-attr]
             "connected": c.is_connected, "current": c.name == self._current}
            for c in self._connections.values()
        ]

    def use(self, name: str) -> DatabaseConnection:
        """Make ``name`` the current connection."""
        connection = self.get_connection(name)
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
        """Compatibility alias of :meth:`disconnect_all` for ``close_pool()``-style code."""
        self.disconnect_all()

    def connect(self, database_url: str | DatabaseURL, name: str | None = None,
                **pool_options: Any) -> DatabaseConnection:
        """Open (or reuse) a pooled connection to ``database_url`` and make it current."""
        options = {**self._pool_options, **pool_options}
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
        self.get_connection(connection_id).disconnect()

    def __enter__(self) -> DatabaseManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect_all()

    # -- running statements --------------------------------------------------------------
    def execute(self, query: str, params: Any = None) -> QueryResult:
        """Run one statement on the current connection (see :meth:`DatabaseConnection.execute`)."""
        return self.get_connection().execute(query, params)

    def execute_many(self, query: str, params_list: Iterable[Any]) -> QueryResult:
        """Run ``query`` once per parameter set, atomically, on the current connection."""
        return self.get_connection().execute_many(query, params_list)

    def execute_query(self, name: str, query: str, params: Any = None) -> list[dict[str, Any]]:
        """Seed API: run ``query`` on the connection ``name`` and return rows as dicts."""
        return self.get_connection(name).execute(query, params).rows

    @contextmanager
    def transaction(self, name: str | None = None) -> Iterator[Transaction]:
        """A transaction on the current (or named) connection; nesting makes savepoints."""
        with self.get_connection(name).transaction() as tx:
            yield tx

    def bulk_insert(self, table: str | Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                    columns: Sequence[str] | None = None) -> int:
        """Insert many rows with the fastest safe path of the current database (COPY, multi-row, executemany)."""
        return self.get_connection().bulk_insert(table, rows, columns)

    def get_tables(self) -> list[str]:
        """Tables of the current database, sorted."""
        return self.get_connection().get_tables()

    def get_table_info(self, table: str) -> dict[str, Any]:
        """Columns, keys, indexes and row count of ``table`` in the current database."""
        return self.get_connection().get_table_info(table)

    def health_check_all(self) -> dict[str, dict[str, Any]]:
        """Health report of every connection, by name."""
        return {name: c.health_check() for name, c in list(self._connections.items())}

    def get_database_stats(self) -> dict[str, Any]:
        """Totals and per-connection counters (statements, errors, time, pools)."""
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
        }

    def __repr__(self) -> str:
        return f"DatabaseManager(connections={sorted(self._connections)!r}, current={self._current!r})"


def manage_databases(database_url: str | DatabaseURL | None = None, **pool_options: Any) -> DatabaseManager:
    """Seed API: a :class:`DatabaseManager`, connected to ``database_url`` when one is given."""
    return DatabaseManager(database_url, **pool_options)
