"""MySQL and MariaDB through PyMySQL.

Connections run in autocommit mode with the ``utf8mb4`` character set (so
4-byte characters such as emoji round-trip) and ``LOAD DATA LOCAL`` off;
dbkeeper opens transactions with ``START TRANSACTION``. The server's
``sql_mode`` is left as configured: identifiers are quoted with backticks,
which work in every mode, and values are escaped by PyMySQL, which follows
the session's ``NO_BACKSLASH_ESCAPES`` flag.

Rows-affected counts are the rows an ``UPDATE`` *matched* (the
``CLIENT_FOUND_ROWS`` flag), as on PostgreSQL and SQLite, not only the rows
whose values changed.

The portable ``?``/``:name`` placeholders are found by a scanner that
treats backslash as an escape inside string literals (MySQL's default,
:attr:`MySQLDialect.backslash_escapes`). On a server whose ``sql_mode``
contains ``NO_BACKSLASH_ESCAPES``, a literal ending in a backslash
(``'C:\\'``) next to portable placeholders can confuse it; use the native
``%s`` placeholders there. :meth:`MySQLDialect.uses_backslash_escapes`
reports the live setting of one connection.

PyMySQL is imported when the first connection is opened, never when the
plugin loads, so ``dbkeeper --help`` does not pay for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

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
from dbkeeper_mysql.migration_support import MySQLMigrationSupport

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO

    from dbkeeper.contract.session import Session
    from dbkeeper.urls import DatabaseURL

# Client (CR_*) and server (ER_*) error codes that mean the connection is gone.
CR_SERVER_GONE_ERROR = 2006  # raised by PyMySQL only when sending fails
CR_SERVER_LOST = 2013  # lost while waiting for the answer: the statement may have run
CR_COMMANDS_OUT_OF_SYNC = 2014  # the protocol state is lost: the connection cannot be reused
CR_SERVER_LOST_EXTENDED = 2055
ER_CONNECTION_KILLED = 1927  # MariaDB: KILL, server shutdown
ER_CLIENT_INTERACTION_TIMEOUT = 4031  # MySQL 8: closed for inactivity before the statement arrived
ER_SERVER_SHUTDOWN = 1053
CR_SSL_CONNECTION_ERROR = 2026
#: Connection errors no retry fixes: access denied (1044, 1045, 1698), unknown database (1049), an
#: authentication method the client cannot speak (1251, 2059), a user whose auth plugin is not loaded (1524).
PERMANENT_CONNECT_CODES = frozenset({1044, 1045, 1049, 1251, 1524, 1698, 2059})
DISCONNECT_CODES = frozenset({CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_COMMANDS_OUT_OF_SYNC, CR_SERVER_LOST_EXTENDED,
                              ER_CONNECTION_KILLED, ER_CLIENT_INTERACTION_TIMEOUT, ER_SERVER_SHUTDOWN})
#: ``server_status`` bit set while the session's sql_mode contains NO_BACKSLASH_ESCAPES.
SERVER_STATUS_NO_BACKSLASH_ESCAPES = 512


class MySQLErrors(ErrorClassifier):
    """PyMySQL's exceptions: the server's and the client's error numbers."""

    def is_disconnect(self, exc: BaseException) -> bool:
        from pymysql import err

        if isinstance(exc, err.OperationalError | err.InterfaceError | err.InternalError | err.ProgrammingError):
            code = _code(exc)
            if code in DISCONNECT_CODES:
                return True
            if isinstance(exc, err.InterfaceError) and code == 0:
                return True  # PyMySQL's "(0, '')": the socket is already closed
        if isinstance(exc, err.Error):
            text = str(exc).lower()
            return "already closed" in text or "connection was killed" in text
        return False

    def is_permanent_connect_error(self, exc: BaseException) -> bool:
        """The server refused these credentials or this database (:data:`PERMANENT_CONNECT_CODES`)."""
        from pymysql import err

        return isinstance(exc, err.MySQLError) and _code(exc) in PERMANENT_CONNECT_CODES

    def query_error_class(self, exc: BaseException) -> type[QueryError]:
        """PyMySQL's ``IntegrityError`` (duplicate keys, foreign keys, NOT NULL) is an ``IntegrityError``."""
        from pymysql import err

        return IntegrityError if isinstance(exc, err.IntegrityError) else QueryError

    def statement_not_executed(self, exc: BaseException) -> bool:
        """True only when the statement provably never reached the server.

        PyMySQL raises 2006 only when *sending* fails, and an incomplete
        packet is never executed; ``InterfaceError(0)`` means the socket was
        closed before anything was sent; 4031 is the server's notice that it
        closed the session for inactivity before the statement arrived.
        2013 (lost while reading the answer) and 1927 (killed, possibly
        mid-statement) prove nothing.
        """
        from pymysql import err

        if isinstance(exc, err.InterfaceError) and _code(exc) == 0:
            return True
        if isinstance(exc, err.OperationalError):
            return _code(exc) in (CR_SERVER_GONE_ERROR, ER_CLIENT_INTERACTION_TIMEOUT)
        return False

    def error_code(self, exc: BaseException) -> str | None:
        from pymysql import err

        if isinstance(exc, err.MySQLError):
            code = _code(exc)
            return str(code) if code is not None else None
        return None


class MySQLBackup(BackupSupport):
    """``mariadb-dump``/the client through scratch schemas, and the leftovers of killed restores."""

    def dump(self, connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """``mariadb-dump --single-transaction`` streamed into ``sink`` (see :mod:`dbkeeper_mysql.dump`)."""
        from dbkeeper_mysql.dump import dump

        return dump(connection, sink, options)

    def restore(self, connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """The ``mariadb``/``mysql`` client fed from ``source`` (see :mod:`dbkeeper_mysql.dump`)."""
        from dbkeeper_mysql.dump import restore

        return restore(connection, source, options)

    def restore_leftovers(self, connection: Session) -> list[str]:
        """Scratch and aside schemas (``<target>_dbk_restore_<hex>``, ``<target>_dbk_aside_<hex>``) of killed restores.

        Those of the connection's database, or of every database when the URL
        names none; a restore still running (it holds a named lock) is not listed.
        """
        from dbkeeper_mysql._restore_swap import leftovers

        with self._admin_cursor(connection) as cur:
            return leftovers(cur, connection.url.database or None)

    def remove_restore_leftover(self, connection: Session, name: str) -> None:
        """Finish or undo the killed restore that left ``name``, then drop its schemas (see ``_restore_swap``)."""
        from dbkeeper_mysql._restore_swap import remove

        with self._admin_cursor(connection) as cur:
            remove(cur, connection.url.database or None, name)

    @contextlib.contextmanager
    def _admin_cursor(self, connection: Session) -> Iterator[Any]:
        conn: Any = self.dialect.connect(connection.url.with_database(""), autocommit=True)
        try:
            yield conn.cursor()
        finally:
            conn.close()


class MySQLDialect(MySQLMigrationSupport, Dialect):
    """MySQL 5.7+/8.x and MariaDB 10.x+ servers."""

    name = "mysql"
    #: How the driver's exceptions read (retry, discard, constraint, code).
    migration_lint_rules = "dbkeeper_mysql.migration_lint:MySQLLintRules"  # dbkeeper migrate lint
    errors_class = MySQLErrors
    #: How it is backed up, restored and checked.
    backup_class = MySQLBackup
    schemes = ("mysql", "mariadb")
    db_type = "mysql"
    upsert_style = "on_duplicate_key"
    no_limit_sql = "LIMIT 18446744073709551615"
    default_port = 3306
    paramstyle = "pyformat"
    backslash_escapes = True
    identifier_quote = "`"
    sqlalchemy_name = "mysql+pymysql"
    begin_statement = "START TRANSACTION"
    capabilities = Capabilities(sql=True, transactions=True, savepoints=True, transactional_ddl=False, server=True,
                                bulk_insert=True, introspection=True, explain=True, dump=True, restore=True,
                                migration_lock=True, collect_metrics=True, render_ddl=True, incremental=True,
                                foreign_key_actions=True, alter_column=True, migrations=True)
    #: Every full backup is a chain base: the chainable dump (server-rendered SQL in key order) costs what
    #: ``mariadb-dump`` does through the same pipeline (alternating pairs in docs/backups.md), so the seed
    #: API's ``backup_type="incremental"`` after a plain full builds on it. ``chainable=False`` keeps the
    #: native dump.
    chainable_fulls_by_default = True

    #: Upper bound, in bytes, of one multi-row ``INSERT`` built by :meth:`bulk_insert`
    #: (never more than the server's ``max_allowed_packet``).
    bulk_batch_bytes: ClassVar[int] = 1024 * 1024

    # -- connecting -----------------------------------------------------------------------
    def connect(self, url: DatabaseURL, *, timeout: float | None = None, autocommit: bool = True) -> DBAPIConnection:
        """Open a PyMySQL connection; URL options are described in :mod:`dbkeeper_mysql._connect_args`.

        A ``+driver`` suffix in the URL is ignored, as everywhere in dbkeeper:
        the connection always goes through PyMySQL.
        """
        from dbkeeper_mysql._connect_args import DISABLED, connect_arguments, tls_context

        kwargs, tls = connect_arguments(url, timeout=timeout, autocommit=autocommit)
        if tls.mode == DISABLED:
            kwargs["ssl_disabled"] = True
        elif tls.required:
            kwargs["ssl"] = tls_context(tls)

        import pymysql
        from pymysql.constants import CLIENT

        from dbkeeper_mysql._results import Connection

        conn = Connection(client_flag=CLIENT.FOUND_ROWS, **kwargs)
        if tls.required and not _encrypted(conn):
            # PyMySQL before 1.2 silently continues in plain text when the server offers no TLS.
            conn.close()
            raise pymysql.err.OperationalError(
                CR_SSL_CONNECTION_ERROR, f"ssl-mode={tls.mode} needs TLS, but the server did not negotiate it")
        return conn

    def ping(self, conn: DBAPIConnection) -> None:
        """``COM_PING``: one round trip, no statement parsed, no result set."""
        conn.ping(reconnect=False)

    def server_version(self, conn: DBAPIConnection) -> str:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        finally:
            cursor.close()
        return str(row[0]) if row else "unknown"

    def uses_backslash_escapes(self, conn: DBAPIConnection) -> bool:
        """Whether string literals on ``conn`` treat backslash as an escape right now.

        False while the session's ``sql_mode`` contains ``NO_BACKSLASH_ESCAPES``
        (PyMySQL tracks the server's status flag after every statement).
        :attr:`backslash_escapes` states the default, true on a stock server.
        """
        return not (getattr(conn, "server_status", 0) & SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    # -- SQL text ---------------------------------------------------------------------------
    def create_database_sql(self, name: str) -> str:
        """``CREATE DATABASE`` with the ``utf8mb4`` character set (the server's default collation for it)."""
        return f"CREATE DATABASE {self.quote_identifier(name)} CHARACTER SET utf8mb4"

    # -- bulk load ----------------------------------------------------------------------------
    def bulk_insert(self, conn: DBAPIConnection, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]], *, batch_bytes: int | None = None) -> int:
        """Multi-row ``INSERT`` statements of at most ``batch_bytes`` (default :attr:`bulk_batch_bytes`).

        Values are escaped by PyMySQL; statements stay below the server's
        ``max_allowed_packet``. See :mod:`dbkeeper_mysql._bulk`.
        """
        from dbkeeper_mysql._bulk import insert_rows

        return insert_rows(conn, table, columns, rows, batch_bytes or self.bulk_batch_bytes)

    # -- introspection --------------------------------------------------------------------------
    def table_names(self, connection: Session) -> list[str]:
        """Base tables (and MariaDB system-versioned tables) of the current database, sorted."""
        rows = connection.execute(
            "SELECT TABLE_NAME AS name FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')"
        ).rows
        return sorted(_text(r["name"]) for r in rows)

    def packed_row_sql(self, columns: Sequence[str]) -> str | None:
        """``JSON_ARRAY(...)``: PyMySQL decodes each column of each row in Python (10,000 migration history
        rows of 17 columns cost about 0.3 s); one JSON text per row is parsed in C by ``json.loads``."""
        return f"JSON_ARRAY({', '.join(columns)})"

    def collect_metrics(self, connection: Session) -> dict[str, Any]:
        """Native statistics (see :mod:`dbkeeper_mysql.metrics`)."""
        from dbkeeper_mysql.metrics import collect_metrics

        return collect_metrics(connection)

    def explain(self, connection: Session, query: str, params: Any = None) -> QueryPlan:
        """``EXPLAIN FORMAT=JSON``: the JSON document as ``raw``, an indented summary as ``text``."""
        import json

        from dbkeeper_mysql._explain import plan_text

        statement = query.strip().rstrip(";").rstrip()
        value = connection.execute(f"EXPLAIN FORMAT=JSON {statement}", params).scalar()
        document = json.loads(_text(value)) if value is not None else {}
        return QueryPlan(dialect=self.name, query=query, text=plan_text(document), raw=document)


    # -- the schema toolkit (implemented in dbkeeper_mysql.schema_support) ----------------------------
    def schema_support(self) -> SchemaSupport:
        """MySQL's and MariaDB's DDL spelling and catalog reader (:mod:`dbkeeper_mysql.schema_support`)."""
        from dbkeeper_mysql.schema_support import MySQLSchemaSupport

        return MySQLSchemaSupport(self)

def _encrypted(conn: Any) -> bool:
    import ssl

    return isinstance(getattr(conn, "_sock", None), ssl.SSLSocket)


def _code(exc: BaseException) -> int | None:
    args = exc.args
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)
