"""PostgreSQL through psycopg 3.

Connections run in autocommit mode, so dbkeeper controls transactions with
explicit ``BEGIN``/``COMMIT`` and an idle pooled connection never sits inside
an open transaction. psycopg is imported inside the methods that need it:
loading the plugin (which every ``dbkeeper`` command does) costs nothing.

Disconnect detection follows the SQLSTATEs PostgreSQL sends when it ends a
session (class ``08``, ``57P01``-``57P05``, ``25P03``) plus the messages
libpq and psycopg produce when the socket is already gone; see
:meth:`PostgresErrors.is_disconnect`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dbkeeper.contract.dialect import (
    BackupSupport,
    Capabilities,
    DBAPIConnection,
    Dialect,
    ErrorClassifier,
    QueryPlan,
    SchemaSupport,
)
from dbkeeper.errors import IntegrityError, QueryError
from dbkeeper_postgres.migration_support import PostgresMigrationSupport
from dbkeeper_postgres.prepared import PreparedRunner, column_names, python_encoding

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO

    from dbkeeper.contract.session import Session
    from dbkeeper.urls import DatabaseURL

#: SQLSTATEs with which the server ends a session: the connection is gone.
_DISCONNECT_SQLSTATES = frozenset({
    "57P01",  # admin_shutdown: pg_terminate_backend(), smart/fast shutdown
    "57P02",  # crash_shutdown: another backend crashed, the server resets
    "57P03",  # cannot_connect_now: the server is starting up or shutting down
    "57P04",  # database_dropped
    "57P05",  # idle_session_timeout
    "25P03",  # idle_in_transaction_session_timeout (FATAL: the session ends)
})

#: SQLSTATEs proving that the statement being sent never ran: the session ended before it.
#: libpq result statuses that carry rows (``TUPLES_OK``, ``SINGLE_TUPLE``, ``TUPLES_CHUNK``).
_ROWS_STATUSES = frozenset({2, 9, 12})
_NOT_EXECUTED_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05"})

#: Message fragments (lower case) of psycopg/libpq errors raised when the socket is gone.
_DISCONNECT_MESSAGES = (
    "the connection is closed",
    "the connection is lost",
    "connection socket closed",
    "server closed the connection unexpectedly",
    "consuming input failed",
    "could not send data to server",
    "could not receive data from server",
    "no connection to the server",
    "connection not open",
    "ssl connection has been closed unexpectedly",
    "ssl syscall error",
    "lost synchronization with server",
    "terminating connection",
)

#: Start-up refusals (lower case) that no retry fixes: authentication, a missing role or database, pg_hba.conf.
_PERMANENT_CONNECT_MESSAGES = ("password", "authentication", "does not exist", "pg_hba.conf")

#: Messages psycopg raises *before* sending anything, because it already knows the connection is closed.
_CLOSED_BEFORE_SENDING = ("the connection is closed", "the connection is lost")



class PostgresErrors(ErrorClassifier):
    """psycopg's exceptions: SQLSTATEs, the libpq connection status and, where libpq gives no code, its messages."""

    def is_disconnect(self, exc: BaseException) -> bool:
        """True for psycopg errors that mean the session is over and the connection must be discarded.

        A terminating SQLSTATE (class ``08`` or ``57P01``-``57P05``,
        ``25P03``), a libpq connection in status ``BAD``, or one of the
        messages libpq and psycopg use when the socket is closed.
        """
        import psycopg

        if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return False
        code = getattr(exc, "sqlstate", None)
        if code and (code.startswith("08") or code in _DISCONNECT_SQLSTATES):
            return True
        pgconn = getattr(exc, "pgconn", None)
        if pgconn is not None and pgconn.status == psycopg.pq.ConnStatus.BAD:
            return True
        message = str(exc).lower()
        return any(fragment in message for fragment in _DISCONNECT_MESSAGES)

    def is_permanent_connect_error(self, exc: BaseException) -> bool:
        """The server refused these credentials, this role or this database.

        libpq reports a refused start-up without a SQLSTATE (psycopg's
        ``sqlstate`` and ``diag`` are empty), so the server's ``FATAL``
        reasons are matched (:data:`_PERMANENT_CONNECT_MESSAGES`); refusals
        such as "the database system is starting up" or "too many clients"
        stay retryable.
        """
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            text = str(exc).lower()
            return any(reason in text for reason in _PERMANENT_CONNECT_MESSAGES)
        return False

    def query_error_class(self, exc: BaseException) -> type[QueryError]:
        """SQLSTATE class ``23`` (integrity constraint violation) is an ``IntegrityError``."""
        code = getattr(exc, "sqlstate", None)
        return IntegrityError if code and str(code).startswith("23") else QueryError

    def statement_not_executed(self, exc: BaseException) -> bool:
        """True when the server ended the session before the statement ran, or psycopg never sent it.

        ``57P01``-``57P03``/``57P05`` arrive when the server ended an idle
        session: the next statement reads that notice instead of running. (A
        statement already running when the session is terminated is rolled
        back, so outside a transaction repeating it is still safe.) psycopg
        raises "the connection is closed" before sending anything on a
        connection it already knows to be dead. Errors such as "server closed
        the connection unexpectedly" carry no such proof and return False.
        """
        import psycopg

        if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return False
        code = getattr(exc, "sqlstate", None)
        if code:
            return code in _NOT_EXECUTED_SQLSTATES
        message = str(exc).lower()
        return message.startswith(_CLOSED_BEFORE_SENDING)

    def error_code(self, exc: BaseException) -> str | None:
        """The SQLSTATE psycopg attached to ``exc`` (``None`` for client-side errors)."""
        code = getattr(exc, "sqlstate", None)
        return str(code) if code else None


class PostgresBackup(BackupSupport):
    """``pg_dump``/``pg_restore`` through a scratch database, and the leftovers of killed restores."""

    def dump(self, connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """``pg_dump -Fc --compress=0`` streamed into ``sink`` (see :mod:`dbkeeper_postgres.dump`)."""
        from dbkeeper_postgres.dump import dump

        return dump(connection, sink, options)

    def restore(self, connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """``pg_restore`` into a scratch database, then swapped in (see :mod:`dbkeeper_postgres.dump`)."""
        from dbkeeper_postgres.dump import restore

        return restore(connection, source, options)

    def restore_leftovers(self, connection: Session) -> list[str]:
        """``<target>_dbk_restore_<hex>`` / ``_dbk_aside_<hex>`` databases no running restore holds."""
        from dbkeeper_postgres._admin import admin_connection
        from dbkeeper_postgres._swap import leftovers

        with admin_connection(connection.url) as admin:
            return leftovers(admin, connection.url.database or "")

    def remove_restore_leftover(self, connection: Session, name: str) -> None:
        """Drop one of :meth:`restore_leftovers` (``WITH (FORCE)``); any other name is refused."""
        from dbkeeper_postgres._admin import admin_connection
        from dbkeeper_postgres._swap import remove_leftover

        with admin_connection(connection.url) as admin:
            remove_leftover(admin, connection.url.database or "", name)


class PostgresDialect(PostgresMigrationSupport, Dialect):
    """PostgreSQL servers (``postgresql://`` and ``postgres://`` URLs) through psycopg 3."""

    name = "postgres"
    #: How the driver's exceptions read (retry, discard, constraint, code).
    migration_lint_rules = "dbkeeper_postgres.migration_lint:PostgresLintRules"  # dbkeeper migrate lint
    errors_class = PostgresErrors
    #: How it is backed up, restored and checked.
    backup_class = PostgresBackup
    schemes = ("postgresql", "postgres")
    db_type = "postgresql"
    upsert_style = "on_conflict"
    insert_returning = True
    default_port = 5432
    paramstyle = "pyformat"
    reusable_cursors = True  # psycopg client-side cursors: no server state between statements
    backslash_escapes = False
    identifier_quote = '"'
    sqlalchemy_name = "postgresql+psycopg"
    capabilities = Capabilities(sql=True, transactions=True, savepoints=True, transactional_ddl=True, server=True,
                                bulk_insert=True, introspection=True, explain=True, asyncio=True, dump=True,
                                restore=True, migration_lock=True, collect_metrics=True, render_ddl=True,
                                incremental=True, foreign_key_actions=True, alter_column=True, migrations=True)

    # -- connecting -----------------------------------------------------------------
    def connect(self, url: DatabaseURL, *, timeout: float | None = None, autocommit: bool = True) -> DBAPIConnection:
        """A ``psycopg.Connection``; credentials and libpq options go in as keyword arguments."""
        import psycopg

        from dbkeeper_postgres._conninfo import connect_kwargs

        return psycopg.connect(autocommit=autocommit, **connect_kwargs(url, timeout=timeout))

    async def connect_async(self, url: DatabaseURL, *, timeout: float | None = None) -> Any:
        """A ``psycopg.AsyncConnection`` in autocommit mode, built from the same arguments as :meth:`connect`."""
        import psycopg

        from dbkeeper_postgres._conninfo import connect_kwargs

        return await psycopg.AsyncConnection.connect(autocommit=True, **connect_kwargs(url, timeout=timeout))

    def ping(self, conn: DBAPIConnection) -> None:
        """An empty query on an autocommit connection: one round trip, no parsing, no snapshot."""
        import psycopg

        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is closed")
        if conn.autocommit:
            conn.execute("")
        else:
            super().ping(conn)

    def prepared_runner(self, conn: DBAPIConnection) -> Any:
        """Repeated statements as libpq prepared statements below psycopg's cursor (:mod:`.prepared`).

        ``None`` when the connection's ``prepare_threshold`` is ``None``
        (never prepare: PgBouncer in transaction mode).
        """
        threshold = conn.prepare_threshold
        if threshold is None:
            return None
        return PreparedRunner(conn, threshold, python_encoding(conn))

    def result_columns(self, cursor: Any) -> list[str] | None:
        """Names straight from the libpq result: ``cursor.description`` builds a ``Column``
        object (with type lookups) per column on every statement, about 9 us for four columns."""
        result = cursor.pgresult
        if result is None or not (result.nfields or result.status in _ROWS_STATUSES):  # as ``description``
            return None
        return column_names(result, python_encoding(cursor.connection))

    def server_version(self, conn: DBAPIConnection) -> str:
        """The server's ``server_version`` (reported at connection start: no round trip)."""
        version = conn.info.parameter_status("server_version")
        if version:
            return str(version)
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0])

    # -- SQL text -----------------------------------------------------------------------
    def drop_database_sql(self, name: str) -> str:
        """``DROP DATABASE IF EXISTS ... WITH (FORCE)``: leftover sessions do not block it (PostgreSQL 13+)."""
        return f"DROP DATABASE IF EXISTS {self.quote_identifier(name)} WITH (FORCE)"

    # -- bulk load ----------------------------------------------------------------------
    def bulk_insert(self, conn: DBAPIConnection, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> int:
        """``COPY table (columns) FROM STDIN``, streaming ``rows`` through psycopg's copy protocol.

        Text-format COPY: psycopg adapts each value with the same dumpers it
        uses for query parameters and escapes tabs, newlines, backslashes and
        ``\\N`` itself (``None`` becomes ``NULL``), so any value that binds as
        a parameter loads the same way. About 15 times faster than
        ``executemany`` on 100,000 rows. A failing row (or an exception
        raised while iterating ``rows``) aborts the whole COPY.
        """
        count = 0
        with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    # -- introspection ------------------------------------------------------------------
    def table_names(self, connection: Session) -> list[str]:
        """Ordinary and partitioned tables (partitions too, as reflection sees them) on the ``search_path``, sorted."""
        rows = connection.execute(
            "SELECT DISTINCT c.relname AS name FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (pg_catalog.current_schemas(false)) "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        ).rows
        return sorted(row["name"] for row in rows)

    def collect_metrics(self, connection: Session) -> dict[str, Any]:
        """Native statistics (see :mod:`dbkeeper_postgres.metrics`)."""
        from dbkeeper_postgres.metrics import collect_metrics

        return collect_metrics(connection)

    def explain(self, connection: Session, query: str, params: Any = None) -> QueryPlan:
        """``EXPLAIN (FORMAT JSON)``: the JSON as ``raw``, a ``psql``-style tree as ``text``."""
        from dbkeeper_postgres._plan import parse_plan, render_plan

        value = connection.execute(f"EXPLAIN (FORMAT JSON) {query}", params).scalar()
        plan = parse_plan(value)
        return QueryPlan(dialect=self.name, query=query, text=render_plan(plan), raw=plan)

    # -- the schema toolkit (implemented in dbkeeper_postgres.schema_support) ----------------------------
    def schema_support(self) -> SchemaSupport:
        """PostgreSQL's DDL spelling and catalog reader (:mod:`dbkeeper_postgres.schema_support`)."""
        from dbkeeper_postgres.schema_support import PostgresSchemaSupport

        return PostgresSchemaSupport(self)
