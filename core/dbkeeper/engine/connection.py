"""``DatabaseConnection``: one named database, its connection pool and its hot path.

A connection object is cheap until :meth:`DatabaseConnection.connect` builds
its pool (:class:`~dbkeeper.engine.pool.ConnectionPool` of raw DBAPI connections,
with autocommit on, so returning one costs no round trip). ``execute`` checks a raw
connection out, runs one statement with the driver's own cursor, and builds
a :class:`~dbkeeper.result.QueryResult`; nothing else sits on that path but a
timer, counters and a cached placeholder rewrite.

Transactions (:meth:`DatabaseConnection.transaction`) pin one pooled
connection to the calling thread; ``execute`` calls made on that thread while
the block is open run inside it, and nested blocks become savepoints.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from dbkeeper.contract.session import install_session_opener
from dbkeeper.crud.methods import CrudMethods
from dbkeeper.engine.pool import ConnectionPool, PooledConnection, PoolTimeout
from dbkeeper.errors import (
    ClosedError,
    ConfigurationError,
    ConnectionError,
    ConnectionLostError,
    DbKeeperError,
    PoolTimeoutError,
    UnsupportedOperationError,
)
from dbkeeper.redaction import redact
from dbkeeper.result import QueryResult
from dbkeeper.sql.placeholders import REWRITTEN_STYLES, to_driver_style
from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dbkeeper.contract.dialect import DBAPIConnection, Dialect, QueryPlan
    from dbkeeper.contract.introspection import TableInfo
    from dbkeeper.crud.methods import CrudState
    from dbkeeper.crud.read_cache import QueryCache
    from dbkeeper.engine.observers import StatementObserver, StatementSink

logger = logging.getLogger("dbkeeper")
_DEBUG = logging.DEBUG
#: Rewritten statement texts kept per connection (cleared when full: a cache, not a registry).
_REWRITTEN_LIMIT = 1024
_READ_ONLY_PREFIXES = ("select", "with", "show", "explain", "pragma", "values", "describe", "table")


class DatabaseType(enum.Enum):
    """Kinds of database dbkeeper knows by name; plugins may serve ``CUSTOM`` ones."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    MONGODB = "mongodb"
    REDIS = "redis"
    CUSTOM = "custom"

    @classmethod
    def coerce(cls, value: DatabaseType | str) -> DatabaseType:
        """Accept an enum member, its value or its name (any case)."""
        if isinstance(value, DatabaseType):
            return value
        text = str(value).lower()
        aliases = {"postgres": "postgresql", "mariadb": "mysql"}
        text = aliases.get(text, text)
        try:
            return cls(text)
        except ValueError:
            return cls.CUSTOM


_SCHEME_FOR_TYPE = {
    DatabaseType.SQLITE: "sqlite",
    DatabaseType.POSTGRESQL: "postgresql",
    DatabaseType.MYSQL: "mysql",
    DatabaseType.MONGODB: "mongodb",
    DatabaseType.REDIS: "redis",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(repr=False, eq=False)
class DatabaseConnection(CrudMethods):
    """A named database plus the pool that serves it.

    Build one from a URL with :meth:`from_url`, or from fields (the seed
    API). ``connection_string``, when given, wins over the individual fields.
    ``password`` and ``connection_string`` never appear in ``repr()``/``str()``.
    ``connection_pool_size``, ``max_overflow``, ``pool_timeout`` (checkout
    wait), ``pool_recycle`` and ``pre_ping`` configure the pool;
    ``connection_timeout`` bounds each connection attempt and ``max_retries``
    how often establishing one is retried. ``query_cache`` (off by default)
    is the read cache of the CRUD helpers (:mod:`dbkeeper.crud.read_cache`).
    """

    name: str
    db_type: DatabaseType | str = DatabaseType.SQLITE
    database: str = ""
    # The seed API's defaults, kept so ported code reads what it expects; SQLite ignores the network fields.
    host: str | None = "localhost"
    port: int | None = 5432
    username: str | None = "postgres"
    password: str | None = field(default="", repr=False)
    ssl_mode: str | None = "prefer"
    connection_pool_size: int = 10
    connection_timeout: float = 30.0
    max_retries: int = 3
    connection_string: str | None = field(default=None, repr=False)
    created_at: datetime = field(default_factory=_utcnow)
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: float | None = 3600.0
    pre_ping: bool = False
    retry_on_disconnect: bool = True
    query_cache: QueryCache | None = field(default=None, repr=False)
    #: Time every statement into the workspace's performance monitor (see docs/monitoring.md).
    #: dbkeeper's own maintenance connections (migration runs) switch it off: their statements
    #: are not the application's workload, and a short CLI run would pay for the store's flush.
    record_queries: bool = True

    _url: DatabaseURL = field(init=False, repr=False)
    _dialect: Dialect | None = field(init=False, default=None, repr=False)
    _pool: ConnectionPool | None = field(init=False, default=None, repr=False)
    _engine: Engine | None = field(init=False, default=None, repr=False)
    _local: threading.local = field(init=False, repr=False)
    _stats_lock: threading.Lock = field(init=False, repr=False)
    _server_version: str | None = field(init=False, default=None, repr=False)
    #: True when the driver's placeholder style is not ``qmark``, so portable placeholders are rewritten.
    _pyformat: bool = field(init=False, default=False, repr=False)
    #: The dialect's backslash rule when it cannot change per session (``None``: ask the dialect every time).
    _static_escapes: bool | None = field(init=False, default=None, repr=False)
    _rewritten: dict[tuple[str, bool], str] = field(init=False, default_factory=dict, repr=False)
    _reuse_cursors: bool = field(init=False, default=False, repr=False)
    queries_executed: int = field(init=False, default=0, repr=False)
    errors: int = field(init=False, default=0, repr=False)
    total_time: float = field(init=False, default=0.0, repr=False)
    reconnects: int = field(init=False, default=0, repr=False)
    _crud_state: CrudState | None = field(init=False, default=None, repr=False)
    #: The read cache's namespace of this connection (``query_cache.namespace``), computed on first use.
    _cache_namespace: tuple[str, str | None, int | None, str | None] | None = field(init=False, default=None,
                                                                                  repr=False)
    _recorder: StatementObserver | None = field(init=False, default=None, repr=False)
    #: What statements are recorded into (its name's buffer in the recorder, or a filter in front of it); ``None``:
    #: not recorded.
    _sink: StatementSink | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.db_type = DatabaseType.coerce(self.db_type)
        if self.connection_string:
            url = DatabaseURL.parse(self.connection_string)
            self.db_type = DatabaseType.coerce(url.scheme)
            self.database = url.database or self.database
            self.host, self.port, self.username = url.host, url.port, url.username
            self.password = url.password
            self.ssl_mode = url.options.get("sslmode", self.ssl_mode)
        else:
            scheme = _SCHEME_FOR_TYPE.get(self.db_type)
            if scheme is None:
                raise ConfigurationError(
                    f"connection {self.name!r}: db_type {self.db_type} needs a connection_string "
                    "(its plugin defines the URL scheme)"
                )
            if self.db_type is DatabaseType.SQLITE:
                url = DatabaseURL(scheme=scheme, database=self.database or None)
            else:
                # ssl_mode is libpq's setting ("prefer" is its own default, so it stays out of the URL);
                # other drivers take their TLS options from a connection_string
                pg = self.db_type is DatabaseType.POSTGRESQL
                query = (("sslmode", self.ssl_mode),) if pg and self.ssl_mode not in (None, "", "prefer") else ()
                url = DatabaseURL(scheme=scheme, username=self.username, password=self.password or None,
                                  host=self.host, port=self.port, database=self.database or None, query=query)
        if self.connection_pool_size < 1:
            raise ConfigurationError(f"connection {self.name!r}: connection_pool_size must be at least 1")
        self._url = url
        self._local = threading.local()
        self._stats_lock = threading.Lock()

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str | DatabaseURL, name: str | None = None, **options: Any) -> DatabaseConnection:
        """Build a connection from a URL; ``options`` are pool settings (see the class doc)."""
        parsed = DatabaseURL.parse(url)
        if name is None:
            name = _connection_name(parsed)
        aliases = {"pool_size": "connection_pool_size"}
        kwargs = {aliases.get(k, k): v for k, v in options.items()}
        if "connect_timeout" in parsed.options and "connection_timeout" not in kwargs:
            raw_timeout = parsed.options["connect_timeout"]
            try:
                kwargs["connection_timeout"] = float(raw_timeout)
            except ValueError:
                raise ConfigurationError(f"connect_timeout={raw_timeout!r} is not a number of seconds") from None
        conn = cls(name=name, connection_string=parsed.render(hide_password=False), **kwargs)
        conn._url = parsed
        return conn

    @property
    def url(self) -> DatabaseURL:
        """The parsed URL (its ``repr`` masks the password)."""
        return self._url

    @property
    def dialect(self) -> Dialect:
        """The dialect serving this connection (resolved through the plugin registry)."""
        if self._dialect is None:
            from dbkeeper.engine.plugins import get_registry

            self._dialect = get_registry().dialect_for_url(self._url)
        return self._dialect

    @property
    def is_connected(self) -> bool:
        """True between :meth:`connect` and :meth:`disconnect`."""
        return self._pool is not None

    def get_connection_string(self, *, include_password: bool = False) -> str:
        """The URL as text; the password is masked unless ``include_password`` is true."""
        return self._url.render(hide_password=not include_password)

    def __repr__(self) -> str:
        state = "connected" if self._pool is not None else "disconnected"
        return (f"DatabaseConnection(name={self.name!r}, db_type={self.db_type.value!r}, "  # type: ignore[union-attr]
                f"url={self._url.render()!r}, {state})")

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython/hypothesis pretty-printing: the masked repr, never the dataclass fields."""
        printer.text(repr(self))

    # -- lifecycle -------------------------------------------------------------------
    def connect(self) -> DatabaseConnection:
        """Build the pool and open (and test) the first connection. Idempotent."""
        if self._pool is not None:
            return self
        dialect = self.dialect
        self._pyformat = dialect.paramstyle in REWRITTEN_STYLES
        from dbkeeper.contract.dialect import Dialect as BaseDialect

        static = type(dialect).uses_backslash_escapes is BaseDialect.uses_backslash_escapes
        self._static_escapes = bool(dialect.backslash_escapes) if static else None
        self._reuse_cursors = dialect.reusable_cursors
        single = dialect.single_connection(self._url)
        pool = ConnectionPool(
            self._create_raw_connection,
            size=1 if single else self.connection_pool_size,
            max_overflow=0 if single else self.max_overflow,
            timeout=self.pool_timeout,
            recycle=None if single else self.pool_recycle,
            pre_ping=self.pre_ping,
            ping=dialect.ping,
        )
        try:
            entry = pool.checkout()
        except DbKeeperError:
            pool.close()
            raise
        try:
            self._server_version = dialect.server_version(entry.raw)
        except Exception as exc:
            entry.invalidate()
            pool.close()
            raise self._connection_error(exc) from None
        finally:
            entry.release()
        self._pool = pool
        from dbkeeper.engine.observers import observer_for

        self._recorder = observer_for(self) if self.record_queries else None
        self._sink = self._recorder.buffer_for(self.name) if self._recorder is not None else None
        logger.debug("connected %s (%s, server %s)", self.name, self._url.render(), self._server_version)
        return self

    def _create_raw_connection(self) -> DBAPIConnection:
        """Pool creator: open one DBAPI connection (``dbkeeper_connect`` or the dialect), with retries."""
        from dbkeeper.engine.plugins import get_registry

        registry = get_registry()
        attempts = max(1, self.max_retries + 1)
        delay = 0.1
        for attempt in range(attempts):
            try:
                return registry.connect(self.dialect, self._url, timeout=self.connection_timeout)
            except DbKeeperError:
                raise
            except Exception as exc:
                if attempt + 1 >= attempts or not self._worth_retrying(exc):
                    raise self._connection_error(exc) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _worth_retrying(self, exc: BaseException) -> bool:
        return not self.dialect.is_permanent_connect_error(exc)

    def disconnect(self) -> None:
        """Close every pooled connection. The object can :meth:`connect` again later."""
        pool, self._pool = self._pool, None
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
        if pool is not None:
            pool.close()
            logger.debug("disconnected %s", self.name)
        recorder, self._recorder, self._sink = self._recorder, None, None
        if recorder is not None:
            recorder.flush_quietly()

    close = disconnect

    def __enter__(self) -> DatabaseConnection:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # -- error mapping ------------------------------------------------------------------
    def _secrets(self) -> tuple[str | None, ...]:
        return (self._url.password, self.password)

    def _connection_error(self, exc: BaseException) -> ConnectionError:
        message = redact(str(exc).strip(), self._secrets())
        return ConnectionError(f"cannot connect to {self.name} ({self._url.render()}): {message}")

    def _query_error(self, exc: BaseException, query: str) -> DbKeeperError:
        message = redact(str(exc).strip(), self._secrets())
        dialect = self.dialect
        if dialect.is_disconnect(exc):
            return ConnectionLostError(f"connection to {self.name} was lost: {message}")
        code = dialect.error_code(exc)
        kind = dialect.query_error_class(exc)
        return kind(f"{self.name}: {message} (statement: {_shorten(query)})", sqlstate=code)

    # -- the hot path -----------------------------------------------------------------
    def _checkout(self) -> PooledConnection:
        pool = self._pool
        if pool is None:
            raise ClosedError(f"connection {self.name!r} is not connected; call connect() first")
        try:
            return pool.checkout()
        except PoolTimeout:
            raise PoolTimeoutError(
                f"no pooled connection to {self.name} became free within {self.pool_timeout:g} s "
                f"(pool size {self.connection_pool_size}, overflow {self.max_overflow}); raise the pool size "
                "or release connections sooner"
            ) from None
        except DbKeeperError:
            raise
        except Exception as exc:
            raise self._connection_error(exc) from None

    def _prepare(self, query: str, params: Any, raw: DBAPIConnection) -> str:
        """Rewrite portable placeholders for a pyformat driver (cached per statement text).

        The common case, a tuple or list of values, skips the ``Mapping``
        check (an ABC ``isinstance`` costs a Python-level call); where the
        dialect's backslash rule cannot change per session, the rewritten
        text comes from a per-connection dict in one lookup.
        """
        if params is None or not self._pyformat:
            return query
        kind = type(params)
        if kind is tuple or kind is list:
            if "?" not in query:
                return query
            named = False
        elif isinstance(params, Mapping):
            if ":" not in query:
                return query
            named = True
        elif "?" in query:
            named = False
        else:
            return query
        if self._static_escapes is not None:
            key = (query, named)
            rewritten = self._rewritten.get(key)
            if rewritten is None:
                if len(self._rewritten) >= _REWRITTEN_LIMIT:
                    self._rewritten.clear()
                rewritten = self._rewritten[key] = to_driver_style(query, self.dialect.paramstyle, named=named,
                                                                   backslash_escapes=self._static_escapes)
            return rewritten
        return to_driver_style(query, self.dialect.paramstyle, named=named,
                               backslash_escapes=self.dialect.uses_backslash_escapes(raw))

    def _run(self, raw: DBAPIConnection, query: str, params: Any, entry: PooledConnection | None = None
             ) -> QueryResult:
        """Run one statement on ``raw`` and build its result. Raises driver exceptions.

        With ``entry`` (the pooled connection ``raw`` came from) and a dialect
        whose cursors are reusable, the entry's kept cursor runs the statement.
        """
        if params is not None and not params and isinstance(params, (tuple, list, dict)):
            params = None
        sql = self._prepare(query, params, raw) if self._pyformat else query
        reuse = entry is not None and self._reuse_cursors
        runner = None
        if entry is not None and params is not None:
            runner = entry.runner
            if runner is None:
                runner = entry.runner = self.dialect.prepared_runner(raw) or False
        cursor = None
        start = time.perf_counter()
        try:
            got = runner.run(sql, params) if runner else None
            if got is not None:  # the dialect's prepared-statement runner took it
                names, tuples, rowcount = got
                columns = names or []
                rows = [dict(zip(columns, row, strict=False)) for row in tuples] if names else []
                lastrowid = None
            else:
                if reuse:
                    cursor = entry.cursor  # type: ignore[union-attr]
                    if cursor is None:
                        cursor = entry.cursor = raw.cursor()  # type: ignore[union-attr]
                else:
                    cursor = raw.cursor()
                if params is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, params)
                columns = self.dialect.result_columns(cursor)
                if columns:
                    rows = [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]
                else:
                    columns, rows = [], []
                rowcount = cursor.rowcount
                lastrowid = getattr(cursor, "lastrowid", None)
        except Exception:
            if self._sink is not None:
                self._sink.record((query, time.perf_counter() - start, -1))
            if reuse:  # a failed statement gets a fresh cursor next time, whatever state it left
                entry.cursor = None  # type: ignore[union-attr]
                reuse = False
            raise
        finally:
            if not reuse and cursor is not None:
                cursor.close()
            if self.query_cache is not None:
                self.query_cache.after_statement(self, query)
        elapsed = time.perf_counter() - start
        result = QueryResult(rows, columns, -1 if rowcount is None else rowcount, lastrowid or None, elapsed)
        with self._stats_lock:
            self.queries_executed += 1
            self.total_time += elapsed
        sink = self._sink
        if sink is not None:
            record = sink.record  # a local: calling an instance attribute directly is an unspecialised lookup
            record((query, elapsed, len(rows)))
            del record  # the recorder waits for nobody to hold it before it reads the buffer it fills
        if logger.isEnabledFor(_DEBUG):
            logger.debug("%s: %.3f ms, %d rows: %s", self.name, elapsed * 1000, result.row_count, _shorten(query))
        return result

    def execute(self, query: str, params: Any = None) -> QueryResult:
        """Run one statement and return its :class:`QueryResult`.

        Placeholders: the driver's own (``%s``/``%(name)s`` on PostgreSQL and
        MySQL, ``?``/``:name`` on SQLite) or the portable ``?`` and ``:name``
        everywhere. Inside :meth:`transaction` on this thread the statement
        joins the open transaction. Outside one, a statement that fails
        because the connection died is retried once on a fresh connection
        when the database proves it never ran it, or when it only reads.
        """
        stack: list[Transaction] | None = self._local.__dict__.get("stack")
        if stack:
            return stack[-1].execute(query, params)
        for attempt in (0, 1):
            entry = self._checkout()
            try:
                return self._run(entry.raw, query, params, entry)
            except Exception as exc:
                self._count_error()
                if self.dialect.is_disconnect(exc):
                    entry.invalidate()
                    self._after_disconnect()
                    if attempt == 0 and self.retry_on_disconnect and self._safe_to_retry(exc, query):
                        logger.warning("%s: connection lost, retrying once on a new connection", self.name)
                        continue
                raise self._query_error(exc, query) from None
            finally:
                entry.release()
        raise AssertionError("unreachable")  # pragma: no cover

    def _crud_target(self) -> tuple[DatabaseConnection, DatabaseConnection, bool]:
        """CRUD helpers run on this connection (joining the thread's open transaction, if any)."""
        return self, self, False

    def _safe_to_retry(self, exc: BaseException, query: str) -> bool:
        if self.dialect.statement_not_executed(exc):
            return True
        return query.lstrip().lower().startswith(_READ_ONLY_PREFIXES)

    def _after_disconnect(self) -> None:
        """A dead connection usually means the server restarted: drop the idle ones too."""
        self.reconnects += 1
        pool = self._pool
        if pool is not None:
            pool.dispose()

    def _count_error(self) -> None:
        with self._stats_lock:
            self.errors += 1

    def execute_query(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        """Seed API: run ``query`` and return its rows as dicts."""
        return self.execute(query, params).rows

    def execute_many(self, query: str, params_list: Iterable[Any]) -> QueryResult:
        """Run ``query`` once per parameter set, atomically, in one transaction."""
        with self.transaction() as tx:
            return tx.execute_many(query, params_list)

    def bulk_insert(self, table: str | Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                    columns: Sequence[str] | None = None) -> int:
        """Insert many rows using the database's fastest safe path; return how many.

        ``rows`` are sequences in ``columns`` order, or dicts (``columns``
        then defaults to the first row's keys). Atomic: all rows or none.
        """
        with self.transaction() as tx:
            return tx.bulk_insert(table, rows, columns)

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run a block in one transaction; nested blocks become savepoints.

        Commits when the block ends normally, rolls back when it raises (the
        exception propagates). The yielded :class:`Transaction` runs
        statements on the pinned connection; plain ``execute`` calls on this
        thread join it too.
        """
        stack: list[Transaction] = self._local.__dict__.setdefault("stack", [])
        if stack:
            with stack[-1].savepoint() as nested:
                yield nested
            return
        for attempt in (0, 1):
            entry = self._checkout()
            tx = Transaction(self, entry.raw, depth=0)
            try:
                tx._begin()
                break
            except Exception as exc:
                dead = self.dialect.is_disconnect(exc)
                if dead:
                    entry.invalidate()
                    self._after_disconnect()
                entry.release()
                if not (dead and attempt == 0):  # nothing ran yet: a dead connection is safe to replace
                    raise self._query_error(exc, "BEGIN") from None
        stack.append(tx)
        try:
            yield tx
        except BaseException:
            stack.pop()
            tx._finish(commit=False, entry=entry)
            raise
        else:
            stack.pop()
            tx._finish(commit=True, entry=entry)
        finally:
            if self.query_cache is not None:
                self.query_cache.transaction_ended(self)

    # -- introspection and information ---------------------------------------------------------
    def sqlalchemy_engine(self) -> Engine:
        """A SQLAlchemy engine for reflection and DDL compilation (created on first use).

        It opens its own connections through the connect hook, except for
        single-connection databases (SQLite ``:memory:``), where it borrows
        the pooled one so it sees the same data.
        """
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool, QueuePool

            name = self.dialect.sqlalchemy_name
            if name is None:
                from dbkeeper.errors import UnsupportedOperationError

                raise UnsupportedOperationError(f"dialect {self.dialect.name!r} has no SQLAlchemy dialect")
            if self.dialect.single_connection(self._url):
                self._engine = create_engine(f"{name}://", creator=lambda: _Borrowed(self._checkout()),
                                             poolclass=NullPool)
            else:
                self._engine = create_engine(f"{name}://", creator=self._create_raw_connection,
                                             poolclass=QueuePool, pool_size=1, max_overflow=2)
        return self._engine

    def get_tables(self) -> list[str]:
        """Names of the user tables, sorted."""
        self._require_connected()
        return self.dialect.table_names(self)

    def introspect(self, tables: Sequence[str] | None = None) -> list[TableInfo]:
        """Describe tables through the dialect (every table when ``tables`` is None)."""
        self._require_connected()
        return self.dialect.introspect(self, list(tables) if tables is not None else None)

    def get_table_info(self, table: str) -> dict[str, Any]:
        """Columns, primary key, indexes, foreign keys and row count of ``table``."""
        info = self.introspect([table])[0]
        data = info.to_dict()
        count = self.execute(f"SELECT COUNT(*) AS n FROM {self.dialect.qualify(table)}").scalar()
        data["row_count"] = int(count or 0)
        return data

    def explain(self, query: str, params: Any = None) -> QueryPlan:
        """The database's plan for ``query`` (from the dialect)."""
        self._require_connected()
        return self.dialect.explain(self, query, params)

    def health_check(self) -> dict[str, Any]:
        """Status (``healthy``/``unhealthy``), round-trip latency, server version; never raises."""
        report: dict[str, Any] = {
            "name": self.name, "dialect": None, "database": self._url.database,
            "status": "unhealthy", "latency_ms": None, "server_version": self._server_version, "error": None,
        }
        try:
            report["dialect"] = self.dialect.name
            if self._pool is None:
                self.connect()
            start = time.perf_counter()
            entry = self._checkout()
            try:
                self.dialect.ping(entry.raw)
            except Exception as exc:
                if self.dialect.is_disconnect(exc):
                    entry.invalidate()
                    self._after_disconnect()
                raise self._query_error(exc, "SELECT 1") from None
            finally:
                entry.release()
            report["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
            report["server_version"] = self._server_version
            report["status"] = "healthy"
        except DbKeeperError as exc:
            report["error"] = redact(str(exc), self._secrets())
        return report

    def pool_status(self) -> dict[str, Any]:
        """Pool size and how many connections are checked in, out and in overflow."""
        pool = self._pool
        if pool is None:
            return {"connected": False}
        return {"connected": True, **pool.status()}

    def get_stats(self) -> dict[str, Any]:
        """Counters of this connection: statements, errors, time, reconnects, pool."""
        with self._stats_lock:
            queries, errors, total = self.queries_executed, self.errors, self.total_time
        return {
            "name": self.name,
            "dialect": self.dialect.name,
            "queries_executed": queries,
            "errors": errors,
            "total_time_ms": round(total * 1000, 3),
            "average_time_ms": round(total * 1000 / queries, 3) if queries else 0.0,
            "reconnects": self.reconnects,
            "pool": self.pool_status(),
        }

    def get_database_info(self) -> dict[str, Any]:
        """What this connection points at: dialect, server, database, user (never the password)."""
        self._require_connected()
        return {
            "name": self.name,
            "db_type": self.db_type.value,  # type: ignore[union-attr]
            "dialect": self.dialect.name,
            "url": self._url.render(),
            "database": self._url.database,
            "host": self._url.host,
            "port": self._url.port or self.dialect.default_port,
            "username": self._url.username,
            "server_version": self._server_version,
            "tables": len(self.get_tables()),
            "pool": self.pool_status(),
        }

    def _require_connected(self) -> None:
        if self._pool is None:
            raise ClosedError(f"connection {self.name!r} is not connected; call connect() first")


class Transaction(CrudMethods):
    """Statements pinned to one connection inside :meth:`DatabaseConnection.transaction`."""

    _names = itertools.count(1)

    def __init__(self, owner: DatabaseConnection, raw: DBAPIConnection, depth: int,
                 savepoint_name: str | None = None) -> None:
        self.connection = owner
        self.raw = raw
        self.depth = depth
        self.savepoint_name = savepoint_name
        self._broken = False

    def _crud_target(self) -> tuple[DatabaseConnection, Transaction, bool]:
        """CRUD helpers run inside this transaction (and bypass the read cache)."""
        return self.connection, self, True

    def _begin(self) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.execute(self.connection.dialect.begin_statement)
        finally:
            cursor.close()

    def _statement(self, sql: str) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def _finish(self, *, commit: bool, entry: PooledConnection) -> None:
        owner = self.connection
        try:
            if self._broken:
                entry.invalidate()
                if commit:
                    raise ConnectionLostError(f"connection to {owner.name} was lost inside a transaction; "
                                              "nothing was committed")
                return
            try:
                self._statement("COMMIT" if commit else "ROLLBACK")
            except Exception as exc:
                if owner.dialect.is_disconnect(exc):
                    entry.invalidate()
                    owner._after_disconnect()
                if commit:
                    raise owner._query_error(exc, "COMMIT") from None
                logger.warning("%s: rollback failed: %s", owner.name, redact(str(exc), owner._secrets()))
        finally:
            entry.release()

    def execute(self, query: str, params: Any = None) -> QueryResult:
        """Run one statement inside this transaction."""
        owner = self.connection
        if self._broken:
            raise ConnectionLostError(f"connection to {owner.name} was lost inside this transaction")
        try:
            return owner._run(self.raw, query, params)
        except Exception as exc:
            owner._count_error()
            if owner.dialect.is_disconnect(exc):
                self._broken = True
                owner._after_disconnect()
            raise owner._query_error(exc, query) from None

    def execute_many(self, query: str, params_list: Iterable[Any]) -> QueryResult:
        """Run ``query`` for each parameter set (driver ``executemany``)."""
        owner = self.connection
        params_seq = list(params_list)
        sample = params_seq[0] if params_seq else None
        sql = owner._prepare(query, sample, self.raw)
        start = time.perf_counter()
        cursor = self.raw.cursor()
        try:
            if params_seq:
                cursor.executemany(sql, params_seq)
            affected = owner.dialect.cursor_rowcount(cursor)
        except Exception as exc:
            owner._count_error()
            if owner._sink is not None:
                owner._sink.record((query, time.perf_counter() - start, -1))
            if owner.dialect.is_disconnect(exc):
                self._broken = True
                owner._after_disconnect()
            raise owner._query_error(exc, query) from None
        finally:
            cursor.close()
            if owner.query_cache is not None:
                owner.query_cache.after_statement(owner, query)
        elapsed = time.perf_counter() - start
        with owner._stats_lock:
            owner.queries_executed += 1
            owner.total_time += elapsed
        if owner._sink is not None:
            owner._sink.record((query, elapsed, affected if affected >= 0 else len(params_seq)))
        if logger.isEnabledFor(_DEBUG):
            logger.debug("%s: %.3f ms, executemany x%d: %s", owner.name, elapsed * 1000, len(params_seq),
                         _shorten(query))
        return QueryResult([], [], affected if affected >= 0 else len(params_seq), None, elapsed)

    def bulk_insert(self, table: str | Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                    columns: Sequence[str] | None = None) -> int:
        """Insert many rows with the dialect's fastest safe path; return how many."""
        owner = self.connection
        dialect = owner.dialect
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return 0
        if isinstance(first, Mapping):
            cols = list(columns) if columns is not None else list(first.keys())
            keyed = cast("Iterator[Mapping[str, Any]]", itertools.chain([first], iterator))
            values: Iterable[Sequence[Any]] = (tuple(row[c] for c in cols) for row in keyed)
        else:
            if columns is None:
                raise ConfigurationError("bulk_insert: pass columns=[...] when rows are sequences")
            cols = list(columns)
            values = cast("Iterator[Sequence[Any]]", itertools.chain([first], iterator))
        if not cols:
            raise ConfigurationError("bulk_insert: no columns given")
        source_failure: list[BaseException] = []

        def guarded(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
            """Remember an error raised by the caller's own rows, so it is not reported as a query error."""
            try:
                yield from rows
            except Exception as exc:
                source_failure.append(exc)
                raise

        start = time.perf_counter()
        try:
            count = dialect.bulk_insert(self.raw, dialect.qualify(table), [dialect.quote_identifier(c) for c in cols],
                                        guarded(values))
        except DbKeeperError:
            raise
        except Exception as exc:
            if source_failure and exc is source_failure[0]:
                raise
            owner._count_error()
            if dialect.is_disconnect(exc):
                self._broken = True
                owner._after_disconnect()
            raise owner._query_error(exc, f"bulk insert into {table}") from None
        finally:
            if owner.query_cache is not None:
                owner.query_cache.after_table_write(owner, table)
        elapsed = time.perf_counter() - start
        with owner._stats_lock:
            owner.queries_executed += 1
            owner.total_time += elapsed
        if logger.isEnabledFor(_DEBUG):
            logger.debug("%s: %.3f ms, bulk insert of %d rows into %s", owner.name, elapsed * 1000, count, table)
        return count

    @contextmanager
    def savepoint(self) -> Iterator[Transaction]:
        """A nested transaction: a savepoint released on success, rolled back to on error.

        Refused before anything is sent when the dialect does not declare
        ``savepoints``: the outer transaction stays open and usable.
        """
        owner = self.connection
        if not owner.dialect.capabilities.savepoints:
            raise UnsupportedOperationError(
                f"dialect {owner.dialect.name!r} declares capability savepoints=False: a transaction block "
                "cannot be nested; finish the outer block first or run the inner statements in it directly")
        name = f"dbkeeper_sp_{next(self._names)}"
        quoted = owner.dialect.quote_identifier(name)
        self.execute(f"SAVEPOINT {quoted}")
        nested = Transaction(owner, self.raw, self.depth + 1, savepoint_name=name)
        stack: list[Transaction] = owner._local.__dict__["stack"]
        stack.append(nested)
        try:
            yield nested
        except BaseException:
            stack.pop()
            if not (self._broken or nested._broken):
                try:
                    self.execute(f"ROLLBACK TO SAVEPOINT {quoted}")
                except DbKeeperError as exc:
                    logger.warning("%s: rollback to savepoint failed: %s", owner.name, exc)
            raise
        else:
            stack.pop()
            if nested._broken:
                self._broken = True
            self.execute(f"RELEASE SAVEPOINT {quoted}")

    def __repr__(self) -> str:
        return f"Transaction(connection={self.connection.name!r}, depth={self.depth})"


class _Borrowed:
    """A pooled connection lent to SQLAlchemy as if it were a DBAPI connection.

    Used for single-connection databases (SQLite ``:memory:``): reflection
    must see the same data, so SQLAlchemy borrows the pooled connection and
    gives it back when it "closes" it.
    """

    def __init__(self, entry: PooledConnection) -> None:
        self._entry = entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry.raw, name)

    def close(self) -> None:
        self._entry.release()


def _connection_name(url: DatabaseURL) -> str:
    """The name the URL's dialect gives it (``Dialect.connection_name``); the generic rule for an unknown scheme."""
    from dbkeeper.config import default_connection_name
    from dbkeeper.engine.plugins import get_registry

    try:
        return get_registry().dialect_for_url(url).connection_name(url)
    except DbKeeperError:
        return default_connection_name(url)


def _shorten(query: str, limit: int = 200) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _open_admin_session(url: DatabaseURL) -> DatabaseConnection:
    """The contract's :func:`~dbkeeper.contract.session.open_session`: one connection, no retries."""
    return DatabaseConnection.from_url(url, name="admin", connection_pool_size=1, max_retries=0).connect()


install_session_opener(_open_admin_session)
