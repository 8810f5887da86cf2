"""The ``Dialect`` base class: a checklist of what a backend provides.

A dialect plugin subclasses :class:`Dialect`, fills in the class attributes
(name, URL schemes, capabilities) and overrides the methods its database
needs; it registers the class through the ``dbkeeper_register_dialects`` hook.
The core calls these methods directly (connect, introspect, dump, ...): a
dialect plugin writes no hook implementation besides its registrations.

Operations a dialect does not provide raise
:class:`~dbkeeper.errors.UnsupportedOperationError` naming the dialect and the
operation; ``capabilities`` says up front which ones exist, and the
conformance suite in :mod:`dbkeeper.testing` uses it to decide what to test.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from dbkeeper.errors import ConfigurationError, IntegrityError, QueryError, UnsupportedOperationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dbkeeper.contract.introspection import TableInfo
    from dbkeeper.result import QueryResult

from dbkeeper.urls import DatabaseURL

#: A DBAPI 2.0 connection object; typed loosely because every driver differs.
DBAPIConnection = Any


@dataclass(frozen=True)
class Capabilities:
    """What a dialect can do; the conformance suite skips what is switched off.

    The defaults are what the :class:`Dialect` base class itself delivers for
    a SQL database reached through a DBAPI driver: SQL statements,
    ``BEGIN``/``COMMIT`` transactions, the ``executemany`` bulk load and the
    ``information_schema`` introspection. Everything else (savepoints,
    transactional DDL, a killable server session, backups, schema rendering,
    ...) is off until the dialect declares it, so a new dialect claims only
    what it proves. Each flag is documented in ``docs/writing-a-plugin.md``.
    """

    sql: bool = True
    transactions: bool = True
    savepoints: bool = False
    transactional_ddl: bool = False
    server: bool = False
    bulk_insert: bool = True
    introspection: bool = True
    explain: bool = False
    dump: bool = False
    restore: bool = False
    render_ddl: bool = False
    collect_metrics: bool = False
    migration_lock: bool = False
    asyncio: bool = False
    #: ``dump`` honours ``options["chainable"]``: a deterministic stream that incremental backups can share.
    incremental: bool = False
    #: Foreign keys carry ``ON DELETE``/``ON UPDATE`` actions that introspection reports back.
    foreign_key_actions: bool = False
    #: ``ALTER TABLE`` changes a column's type, nullability and default in place; without it the schema
    #: toolkit rebuilds the table (``RebuildTable``), as on SQLite.
    alter_column: bool = False
    #: The migration engine runs here (history table, ``dbkeeper migrate``); needs ``sql``.
    migrations: bool = False

    @property
    def backups(self) -> bool:
        """``dump`` and ``restore`` both work: ``BackupManager`` can round-trip this dialect."""
        return self.dump and self.restore

    def to_dict(self) -> dict[str, bool]:
        """The flags as a plain dict (for ``dbkeeper plugins --json``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _ScriptElapsed:
    """Marker passed to :meth:`Dialect.sql_literal`: seconds since the atomic script began."""

    def __repr__(self) -> str:
        return "SCRIPT_ELAPSED"


#: See :meth:`Dialect.sql_literal`.
SCRIPT_ELAPSED: Any = _ScriptElapsed()


@dataclass(frozen=True)
class QueryPlan:
    """The database's execution plan for one statement.

    ``text`` is the human-readable plan; ``raw`` the structured form the
    database returned (JSON for PostgreSQL and MySQL, rows for SQLite).
    """

    dialect: str
    query: str
    text: str
    raw: Any = field(default=None, repr=False)


class ErrorClassifier:
    """How a dialect reads its driver's exceptions: dead connection, permanent refusal, constraint, code.

    A collaborator of :class:`Dialect` (its :attr:`Dialect.errors`): the pool
    and ``execute`` ask it what a failure means. Subclass it and set
    ``Dialect.errors_class``; decide by the driver's exception classes,
    SQLSTATEs or error numbers, not by message text, where the driver has them.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def is_disconnect(self, exc: BaseException) -> bool:
        """True when ``exc`` means the connection is dead and must be discarded (the pool drops it)."""
        return False

    def is_permanent_connect_error(self, exc: BaseException) -> bool:
        """True when opening a connection failed in a way no retry fixes: wrong credentials, no such database.

        The pool retries every other failure (refused, timed out, the server
        starting up) with backoff, up to ``max_retries``. Decide by the
        driver's exception class, SQLSTATE or error number where it has
        one. The default says no: a dialect that cannot tell retries.
        """
        return False

    def query_error_class(self, exc: BaseException) -> type[QueryError]:
        """The dbkeeper error a failed statement becomes: ``IntegrityError`` (a broken constraint) or ``QueryError``.

        The default goes by the PEP 249 exception classes, which every DBAPI
        module names alike (``IntegrityError``); a dialect maps its driver's
        classes, SQLSTATEs or error numbers instead.
        """
        if any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__):
            return IntegrityError
        return QueryError

    def statement_not_executed(self, exc: BaseException) -> bool:
        """True when ``exc`` proves the server never ran the statement (safe to retry)."""
        return False

    def error_code(self, exc: BaseException) -> str | None:
        """SQLSTATE or driver error code of ``exc`` as text, when the driver has one."""
        return None


class BackupSupport:
    """How a dialect backs up, restores, cleans up after killed restores and checks a restored copy.

    A collaborator of :class:`Dialect` (its :attr:`Dialect.backup`), used by
    :mod:`dbkeeper.backup`. Subclass it and set ``Dialect.backup_class``;
    ``self.dialect`` is the dialect served. ``dump``/``restore`` follow
    ``capabilities.dump``/``restore``; the rest have defaults that suit a
    dialect without scratch copies.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def dump(self, connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """Stream a logical dump of the database into ``sink``; return its metadata."""
        raise self.dialect._unsupported("dump")

    def restore(self, connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """Load a dump produced by :meth:`dump` from ``source`` into the database."""
        raise self.dialect._unsupported("restore")

    def restore_leftovers(self, connection: Session) -> list[str]:
        """Names of what interrupted restores into ``connection``'s database left behind, oldest first.

        A restore loads into a scratch copy (and may move the old data aside)
        so the target always holds complete data; a SIGKILL can leave those
        copies. Their names follow a fixed pattern (``<target>_dbk_restore_<hex>``
        and ``<target>_dbk_aside_<hex>`` on servers) and a restore still
        running is not listed. The default (a dialect without scratch
        copies) has none.
        """
        return []

    def remove_restore_leftover(self, connection: Session, name: str) -> None:
        """Remove one leftover named by :meth:`restore_leftovers` (anything else is refused)."""
        raise UnsupportedOperationError(f"dialect {self.dialect.name!r} has no restore leftovers to remove ({name!r})")

    def incremental_chunking(self) -> dict[str, Any]:
        """How a chainable dump is cut into chunks (see :mod:`dbkeeper.backup.chunking`).

        Only used with ``capabilities.incremental``. The default suits a
        line-per-row export: content-defined cuts on row boundaries averaging
        256 KiB; a page image returns ``{"kind": "fixed", "size": ...}``.
        """
        return {"kind": "lines", "average": 256 << 10}

    @contextmanager
    def scratch_target(self, near: DatabaseURL | None, *, prefix: str) -> Iterator[DatabaseURL]:
        """A new, empty database to restore into, removed on exit.

        Embedded dialects (``capabilities.server`` off) get a file in a
        private temporary directory, under the dialect's first URL scheme;
        server dialects get a uniquely named database next to ``near`` (made
        with :meth:`create_database_sql`, dropped with
        :meth:`drop_database_sql`). Override it when the database makes
        scratch space another way.
        """
        if not self.dialect.capabilities.server:
            with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
                yield self.dialect.scratch_file_url(Path(tmp) / "scratch.db")
            return
        if near is None:
            raise ConfigurationError(f"a scratch {self.dialect.name} database needs a server URL to make it on")
        admin = open_session(near)
        name = f"{prefix}_{secrets.token_hex(6)}"
        try:
            admin.execute(self.dialect.create_database_sql(name))
            try:
                yield near.with_database(name)
            finally:
                admin.execute(self.dialect.drop_database_sql(name))
        finally:
            admin.disconnect()

    def scratch_file_url(self, path: Path) -> DatabaseURL:
        """The URL of a database file at ``path``, for embedded dialects' scratch targets."""
        from dbkeeper.urls import DatabaseURL

        return DatabaseURL(scheme=self.dialect.schemes[0], database=str(path))

    def integrity_check(self, connection: Session) -> list[str]:
        """What the database's own consistency check found wrong in ``connection``'s database; empty when sound.

        Deep backup verification runs it on the restored copy. The default
        has no check to run and finds nothing; SQLite runs
        ``PRAGMA integrity_check``.
        """
        return []


class Dialect:
    """Base class for database backends. Subclass it; override what your database needs.

    Instances are stateless and shared: one instance per registered class
    serves every connection of that dialect.
    """

    #: Registered name, unique across plugins (``sqlite``, ``postgres``, ``mysql``).
    name: ClassVar[str] = ""
    #: URL schemes handled, lower case, without ``+driver`` (``postgresql``, ``postgres``).
    schemes: ClassVar[tuple[str, ...]] = ()
    #: The :class:`~dbkeeper.engine.connection.DatabaseType` value this dialect serves.
    db_type: ClassVar[str] = "custom"
    #: Default TCP port, or ``None`` for embedded databases.
    default_port: ClassVar[int | None] = None
    #: The driver's placeholder style: ``"qmark"`` (``?``, ``:name``), ``"pyformat"`` (``%s``, ``%(name)s``),
    #: ``"numeric"`` (``:1``, ``:name``) or ``"dollar"`` (``$1``, ``$name``); the portable ``?``/``:name``
    #: are rewritten into it (:mod:`dbkeeper.sql.placeholders`).
    paramstyle: ClassVar[str] = "qmark"
    #: True when one driver cursor may run statement after statement on its connection. ``execute``
    #: then keeps a cursor per pooled connection instead of opening and closing one per statement
    #: (about 15 us a statement with psycopg). Only for drivers whose cursors hold no server-side
    #: state between statements and stay usable after a failed one.
    reusable_cursors: ClassVar[bool] = False
    #: With ``capabilities.incremental``: whether a full backup is chainable unless told otherwise. True
    #: when the chainable dump costs nothing extra (SQLite's page image); False when the native dump is
    #: faster than the key-ordered export incremental backups need (PostgreSQL, MySQL).
    chainable_fulls_by_default: ClassVar[bool] = False
    #: True when string literals treat backslash as an escape (MySQL's default).
    backslash_escapes: ClassVar[bool] = False
    #: Character that quotes identifiers.
    identifier_quote: ClassVar[str] = '"'
    #: SQLAlchemy dialect URL prefix used for reflection (``postgresql+psycopg``); ``None``: the default
    #: :meth:`table_names` and :meth:`introspect` read the ``information_schema`` views instead.
    sqlalchemy_name: ClassVar[str | None] = None
    #: SQL expression naming the schema the ``information_schema`` introspection reads (``DATABASE()`` on MySQL).
    information_schema_scope: ClassVar[str] = "current_schema()"
    #: What the dialect can do.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Statement that opens a transaction on an autocommit connection.
    begin_statement: ClassVar[str] = "BEGIN"
    #: How :meth:`upsert_sql` writes "insert or update": ``"on_conflict"`` (PostgreSQL, SQLite
    #: 3.24+), ``"on_duplicate_key"`` (MySQL, MariaDB) or ``"none"``.
    upsert_style: ClassVar[str] = "none"
    #: Whether ``INSERT ... RETURNING`` hands back generated keys (the shipped dialects: PostgreSQL only;
    #: MySQL lacks it, and SQLite's ``lastrowid`` is as good and older).
    insert_returning: ClassVar[bool] = False
    #: ``LIMIT`` clause that means "no limit", for an ``OFFSET`` without a limit where the database needs
    #: one (MySQL's largest count, SQLite's ``LIMIT -1``); ``None`` writes ``OFFSET`` alone.
    no_limit_sql: ClassVar[str | None] = None
    #: Override point: the :class:`ErrorClassifier` subclass that reads this driver's exceptions.
    errors_class: ClassVar[type[ErrorClassifier]] = ErrorClassifier
    #: Override point: the :class:`BackupSupport` subclass that dumps, restores and checks this database.
    backup_class: ClassVar[type[BackupSupport]] = BackupSupport

    # -- connecting -----------------------------------------------------------
    def connect(self, url: DatabaseURL, *, timeout: float | None = None, autocommit: bool = True) -> DBAPIConnection:
        """Open one DBAPI connection (autocommit on unless asked otherwise).

        Credentials must go to the driver as arguments, never in a string that
        could end up in an error message.
        """
        raise UnsupportedOperationError(f"dialect {self.name!r} does not implement connect()")

    async def connect_async(self, url: DatabaseURL, *, timeout: float | None = None) -> Any:
        """Open one native asyncio connection (``aiosqlite``, ``psycopg.AsyncConnection``...).

        Used by the async versioned lifecycle (:mod:`dbkeeper.lifecycle`),
        which adapts the returned object; dialects without an asyncio driver
        leave this unimplemented.
        """
        raise self._unsupported("asyncio connections")

    def ping(self, conn: DBAPIConnection) -> None:
        """Raise if ``conn`` is no longer usable; used by pre-ping and health checks."""
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()

    def uses_backslash_escapes(self, conn: DBAPIConnection) -> bool:
        """Whether string literals on ``conn`` treat backslash as an escape right now.

        The placeholder rewriter needs it to find where literals end. The
        default is the class attribute; MySQL reads the session's
        ``NO_BACKSLASH_ESCAPES`` state.
        """
        return self.backslash_escapes

    def is_disconnect(self, exc: BaseException) -> bool:
        """True when ``exc`` means the connection is dead and must be discarded (delegates to :attr:`errors`)."""
        return self.errors.is_disconnect(exc)

    def is_permanent_connect_error(self, exc: BaseException) -> bool:
        """True when a failed connect is one no retry fixes (delegates to :attr:`errors`)."""
        return self.errors.is_permanent_connect_error(exc)

    def query_error_class(self, exc: BaseException) -> type[QueryError]:
        """The dbkeeper error a failed statement becomes (delegates to :attr:`errors`)."""
        return self.errors.query_error_class(exc)

    def statement_not_executed(self, exc: BaseException) -> bool:
        """True when ``exc`` proves the server never ran the statement (delegates to :attr:`errors`)."""
        return self.errors.statement_not_executed(exc)

    def error_code(self, exc: BaseException) -> str | None:
        """SQLSTATE or driver error code of ``exc`` as text (delegates to :attr:`errors`)."""
        return self.errors.error_code(exc)

    def server_version(self, conn: DBAPIConnection) -> str:
        """Server version string as the database reports it."""
        return "unknown"

    def single_connection(self, url: DatabaseURL) -> bool:
        """True when every user must share one connection (SQLite ``:memory:``)."""
        return False

    def connection_name(self, url: DatabaseURL) -> str:
        """The name a connection made from ``url`` is known by (monitoring, backup catalogs).

        An embedded database (``capabilities.server`` off) is named by its
        file without the extension (``memory`` when in memory); a server's
        by its database, else its host.
        """
        if url.is_memory:
            return "memory"
        if not self.capabilities.server:
            from pathlib import Path

            return Path(url.database or "memory").stem or "memory"
        return url.database or url.host or url.scheme

    def prepared_runner(self, conn: DBAPIConnection) -> Any:
        """An object running repeated statements on ``conn`` faster than a cursor, or ``None`` (the default).

        Created once per pooled connection. Its ``run(sql, params)`` returns
        ``(column names or None, row tuples, rows affected)``, or ``None`` to
        let the cursor run the statement; it raises the driver's exceptions.
        ``sql`` is in the driver's parameter style. The PostgreSQL plugin's
        runs repeated statements as libpq prepared statements.
        """
        return None

    def result_columns(self, cursor: Any) -> list[str] | None:
        """Column names of ``cursor``'s current result, or ``None`` when the statement returned no rows.

        On the hot path of every ``execute``: the DBAPI ``description`` is the
        portable answer, but some drivers build rich per-column objects for
        it; a dialect may read the names more cheaply from the driver.
        """
        description = cursor.description
        return [d[0] for d in description] if description is not None else None

    def packed_row_sql(self, columns: Sequence[str]) -> str | None:
        """A select-list expression that returns ``columns`` (plain, unquoted names) as one JSON array per row.

        For reads of many narrow rows through a driver that parses every
        value in Python (PyMySQL): one JSON text per row parses several
        times faster than a dozen columns. ``None`` (the default) means:
        select the columns themselves. Values must come back as the JSON
        equivalents of what the driver returns (str, int, float, None).
        """
        return None

    def cursor_rowcount(self, cursor: Any) -> int:
        """Rows affected as reported by ``cursor`` (``-1`` when unknown)."""
        count = cursor.rowcount
        return int(count) if count is not None else -1

    def lastrowid(self, cursor: Any) -> int | None:
        """Last inserted row id where the driver reports one."""
        value = getattr(cursor, "lastrowid", None)
        return int(value) if value else None

    # -- SQL text -------------------------------------------------------------
    def quote_identifier(self, name: str) -> str:
        """Quote one identifier, doubling any embedded quote character."""
        q = self.identifier_quote
        return f"{q}{name.replace(q, q + q)}{q}"

    def qualify(self, table: str | Sequence[str]) -> str:
        """Quote a table name; a ``(schema, table)`` tuple becomes ``"schema"."table"``."""
        if isinstance(table, str):
            return self.quote_identifier(table)
        return ".".join(self.quote_identifier(part) for part in table)

    def placeholder(self, index: int) -> str:
        """The driver's placeholder for the ``index``-th (0-based) value: ``?``, ``%s``, ``:1`` or ``$1``."""
        if self.paramstyle == "pyformat":
            return "%s"
        if self.paramstyle == "numeric":
            return f":{index + 1}"
        if self.paramstyle == "dollar":
            return f"${index + 1}"
        return "?"

    def create_database_sql(self, name: str) -> str:
        """``CREATE DATABASE`` for ``name``, quoted."""
        return f"CREATE DATABASE {self.quote_identifier(name)}"

    def drop_database_sql(self, name: str) -> str:
        """``DROP DATABASE IF EXISTS`` for ``name``, quoted."""
        return f"DROP DATABASE IF EXISTS {self.quote_identifier(name)}"

    # -- SQL for the CRUD helpers (dbkeeper.crud.methods) ------------------------------------
    # Names arrive quoted and escaped for the driver; values are placeholders,
    # ``self.placeholder(i)`` for the i-th column.
    def supports_insert_returning(self) -> bool:
        """True when ``INSERT ... RETURNING`` works (see :attr:`insert_returning`)."""
        return self.insert_returning

    def resolved_upsert_style(self) -> str:
        """:attr:`upsert_style` (kept as a method: dialects may decide by server version)."""
        return self.upsert_style

    def insert_sql(self, table: str, columns: Sequence[str], returning: Sequence[str] = ()) -> str:
        """``INSERT INTO table (columns) VALUES (...)`` [``RETURNING ...``] for one row.

        With no columns: ``DEFAULT VALUES`` (``() VALUES ()`` in the
        ``on_duplicate_key`` family, which lacks it).
        """
        if columns:
            marks = ", ".join(self.placeholder(i) for i in range(len(columns)))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        elif self.resolved_upsert_style() == "on_duplicate_key":
            sql = f"INSERT INTO {table} () VALUES ()"
        else:
            sql = f"INSERT INTO {table} DEFAULT VALUES"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        return sql

    def upsert_sql(self, table: str, columns: Sequence[str], conflict: Sequence[str], update: Sequence[str],
                   returning: Sequence[str] = ()) -> str:
        """Insert one row, or update ``update`` columns of the row whose ``conflict`` columns match.

        ``conflict`` names a primary key or unique index (MySQL ignores it:
        any unique key conflicts there); an empty ``update`` keeps the
        existing row unchanged. The style comes from
        :meth:`resolved_upsert_style`; a dialect with another syntax
        (``MERGE``) overrides this method.
        """
        style = self.resolved_upsert_style()
        if style == "on_conflict":
            target = ", ".join(conflict)
            if update:
                sets = ", ".join(f"{c} = excluded.{c}" for c in update)
                action = f"ON CONFLICT ({target}) DO UPDATE SET {sets}"
            else:
                action = f"ON CONFLICT ({target}) DO NOTHING"
            sql = f"{self.insert_sql(table, columns)} {action}"
            return f"{sql} RETURNING {', '.join(returning)}" if returning else sql
        if style == "on_duplicate_key":
            if returning:
                raise self._unsupported("INSERT ... RETURNING")
            sets = ", ".join(f"{c} = VALUES({c})" for c in update) or f"{conflict[0]} = {conflict[0]}"
            return f"{self.insert_sql(table, columns)} ON DUPLICATE KEY UPDATE {sets}"
        raise self._unsupported("upsert")

    def limit_sql(self, limit: int | None, offset: int | None) -> str:
        """``LIMIT``/``OFFSET`` for validated non-negative ints ("" when both are None).

        An offset without a limit gets :attr:`no_limit_sql` first where the
        dialect needs one (MySQL, SQLite); other dialects write ``OFFSET`` alone.
        """
        parts: list[str] = []
        if limit is not None:
            parts.append(f"LIMIT {int(limit)}")
        elif offset is not None and self.no_limit_sql is not None:
            parts.append(self.no_limit_sql)
        if offset is not None:
            parts.append(f"OFFSET {int(offset)}")
        return " ".join(parts)

    # -- bulk load --------------------------------------------------------------
    def bulk_insert(self, conn: DBAPIConnection, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> int:
        """Insert ``rows`` into the already-quoted ``table``/``columns``; return the count.

        Called inside an open transaction. The default uses ``executemany`` in
        batches; dialects override it with their fastest safe path.
        """
        marks = ", ".join(self.placeholder(i) for i in range(len(columns)))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        total = 0
        cursor = conn.cursor()
        try:
            for batch in _batches(rows, 10_000):
                cursor.executemany(sql, batch)
                total += len(batch)
        finally:
            cursor.close()
        return total

    # -- introspection ----------------------------------------------------------
    def table_names(self, connection: Session) -> list[str]:
        """Names of the user tables in the connected database, sorted.

        Through SQLAlchemy's inspector when :attr:`sqlalchemy_name` is set, else
        through ``information_schema.tables`` (:mod:`dbkeeper.contract.information_schema`).
        """
        if self.sqlalchemy_name is None:
            from dbkeeper.contract import information_schema

            return information_schema.table_names(connection)
        from sqlalchemy import inspect

        return sorted(inspect(connection.sqlalchemy_engine()).get_table_names())

    def introspect(self, connection: Session, tables: Sequence[str] | None = None) -> list[TableInfo]:
        """Describe ``tables`` (all tables when ``None``): SQLAlchemy reflection, or ``information_schema``."""
        if self.sqlalchemy_name is None:
            from dbkeeper.contract import information_schema

            return information_schema.introspect(connection, tables)
        from dbkeeper.contract.reflection import reflect_tables

        return reflect_tables(connection, tables)

    @cached_property
    def errors(self) -> ErrorClassifier:
        """The dialect's :attr:`errors_class`, built once, on first use."""
        return self.errors_class(self)

    @cached_property
    def backup(self) -> BackupSupport:
        """The dialect's :attr:`backup_class`, built once, on first use."""
        return self.backup_class(self)

    # -- the schema toolkit (dbkeeper.schema) ----------------------------------------------------------
    def schema_support(self) -> SchemaSupport:
        """Override point: this dialect's :class:`SchemaSupport`, built once, on first use (:attr:`schema`).

        Return an instance of your subclass of
        :class:`dbkeeper.schema.support.BaseSchemaSupport`, importing its
        module inside this method so loading the dialect does not load the
        schema toolkit. The default has none: every schema operation raises
        :class:`~dbkeeper.errors.UnsupportedOperationError`.
        """
        return _NoSchemaSupport(self)

    @cached_property
    def schema(self) -> SchemaSupport:
        """The dialect's schema support (:meth:`schema_support`'s result, kept for the instance's life)."""
        return self.schema_support()

    def ddl_renderer(self) -> Any:
        """The :class:`~dbkeeper.schema.ddl.DDLRenderer` that spells schema objects in this dialect's SQL.

        Delegates to :attr:`schema`; typed ``Any`` because the contract sits
        below the schema toolkit (``dbkeeper.schema.dialects.renderer_for`` is the typed way in).
        """
        return self.schema.ddl_renderer()

    def introspect_schema(self, connection: Session) -> Any:
        """The whole schema of the connected database (a ``SchemaDefinition``: tables, views, enums, sequences).

        Delegates to :attr:`schema`; ``dbkeeper.schema.introspect`` is the typed way in.
        """
        return self.schema.introspect_schema(connection)

    # -- operations implemented by later capabilities -------------------------------
    def explain(self, connection: Session, query: str, params: Any = None) -> QueryPlan:
        """Return the execution plan of ``query`` without running it."""
        raise self._unsupported("explain")

    def dump(self, connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """Stream a logical dump of the database into ``sink``; return its metadata (delegates to :attr:`backup`)."""
        return self.backup.dump(connection, sink, options)

    def restore(self, connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
        """Load a dump produced by :meth:`dump` from ``source`` into the database (delegates to :attr:`backup`)."""
        return self.backup.restore(connection, source, options)

    def restore_leftovers(self, connection: Session) -> list[str]:
        """What interrupted restores into ``connection``'s database left behind (delegates to :attr:`backup`)."""
        return self.backup.restore_leftovers(connection)

    def remove_restore_leftover(self, connection: Session, name: str) -> None:
        """Remove one leftover named by :meth:`restore_leftovers` (delegates to :attr:`backup`)."""
        self.backup.remove_restore_leftover(connection, name)

    def incremental_chunking(self) -> dict[str, Any]:
        """How a chainable dump is cut into chunks (delegates to :attr:`backup`)."""
        return self.backup.incremental_chunking()

    def render_ddl(self, obj: Any, options: Mapping[str, Any]) -> list[str]:
        """Render DDL statements for a schema object in this dialect (delegates to :attr:`schema`)."""
        return self.schema.render_ddl(obj, options)

    def collect_metrics(self, connection: Session) -> dict[str, Any]:
        """Read the database's native statistics into a flat dict."""
        raise self._unsupported("collect_metrics")

    def migration_lock(self, connection: Session, name: str,
                       timeout: float) -> AbstractContextManager[Any]:
        """A context manager that holds the database-wide migration lock ``name``.

        An embedded database returns a
        :class:`~dbkeeper.migrations.locking.FileLock` on a side file next to
        the database (see ``docs/writing-a-plugin.md``, "Embedded engines");
        a server dialect a lock its server releases when the holding session
        ends (advisory locks, ``GET_LOCK``).
        """
        raise self._unsupported("migration_lock")

    # -- deep backup verification (used by dbkeeper.backup.verify) ---------------------------
    def scratch_target(self, near: DatabaseURL | None, *, prefix: str) -> AbstractContextManager[DatabaseURL]:
        """A new, empty database to restore into, removed on exit (delegates to :attr:`backup`)."""
        return self.backup.scratch_target(near, prefix=prefix)

    def scratch_file_url(self, path: Path) -> DatabaseURL:
        """The URL of a database file at ``path``, for embedded scratch targets (delegates to :attr:`backup`)."""
        return self.backup.scratch_file_url(path)

    def integrity_check(self, connection: Session) -> list[str]:
        """What the database's own consistency check found wrong; empty when sound (delegates to :attr:`backup`)."""
        return self.backup.integrity_check(connection)

    # -- migrations (used by dbkeeper.migrations) -------------------------------------
    def split_statements(self, sql: str) -> list[str]:
        """Split a migration script into statements, as this database's own client would.

        The default follows ANSI lexical rules (see :mod:`dbkeeper.sql.split`);
        dialects with dollar quoting, backslash escapes or ``#`` comments
        override it with their preset.
        """
        from dbkeeper.sql.split import ANSI, split_sql

        return split_sql(sql, ANSI)

    def is_non_transactional(self, statement: str) -> bool:
        """True when ``statement`` cannot run inside a transaction block (``CREATE INDEX CONCURRENTLY``).

        The migration engine runs such statements on their own, outside any
        transaction, and records progress around them.
        """
        return False

    def commits_implicitly(self, statement: str) -> bool:
        """True when running ``statement`` commits the open transaction (MySQL DDL).

        The default assumes that a dialect without transactional DDL commits
        on every ``CREATE``/``ALTER``/``DROP``/``RENAME``/``TRUNCATE``.
        """
        if self.capabilities.transactional_ddl:
            return False
        from dbkeeper.sql.split import keywords

        words = keywords(statement, 1)
        return bool(words) and words[0] in ("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE")

    def current_schema(self, connection: Session) -> str | None:
        """The schema (database on MySQL) unqualified names resolve to, or ``None``.

        The migration engine pins its history table to it at the start of a
        run, so a migration that changes ``search_path`` or runs ``USE`` cannot
        redirect the history writes.
        """
        return None

    def migration_table_exists(self, connection: Session, table: str, schema: str | None) -> bool:
        """True when the migration history ``table`` exists (in ``schema`` when given)."""
        return table in self.table_names(connection)

    def atomic_script(self, statements: Sequence[str]) -> str | None:
        """One SQL text that runs ``statements`` as a single transaction in one round trip, or ``None``.

        Only for databases whose protocol runs a multi-statement message
        atomically (PostgreSQL's simple query protocol does). The migration
        engine uses it for migrations of plain DDL, saving the round trips of
        ``BEGIN``, the history write and ``COMMIT``. ``None`` (the default)
        means: run statement by statement inside :meth:`DatabaseConnection.transaction`.
        """
        return None

    def relaxed_commit_sql(self) -> str | None:
        """A statement that lets the enclosing transaction's commit return before its log flush, or ``None``.

        The migration engine runs it inside every migration's transaction but
        the last of a run; the last one commits normally, which flushes the
        log of all earlier ones too, so a run that returns is fully durable,
        while a server crash mid-run can only lose a suffix of migrations
        together with their history rows (still consistent). PostgreSQL:
        ``SET LOCAL synchronous_commit TO off``.
        """
        return None

    def sql_literal(self, value: Any) -> str:
        """``value`` (``None``, bool, int, float or str) as a SQL literal that is safe to inline.

        Needed only by dialects that implement :meth:`atomic_script`; there
        :data:`SCRIPT_ELAPSED` must render as an expression for the seconds
        since the script began (the migration's execution time).
        """
        raise self._unsupported("sql_literal")

    def _unsupported(self, operation: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"dialect {self.name!r} does not support {operation}; "
            f"check `dbkeeper plugins` for its capabilities or install a plugin that provides it"
        )

    def __repr__(self) -> str:
        return f"<Dialect {self.name} schemes={list(self.schemes)}>"


class SchemaSupport(Protocol):
    """What the schema toolkit needs of a dialect: its DDL renderer, its renderer entry point, its catalog reader.

    A collaborator of :class:`Dialect` (its :attr:`Dialect.schema`) rather
    than methods on it, so the contract names nothing of the toolkit, which
    sits above it: the return values are the toolkit's ``DDLRenderer`` and
    ``SchemaDefinition``, typed there. Subclass
    :class:`dbkeeper.schema.support.BaseSchemaSupport` to implement it.
    """

    def ddl_renderer(self) -> Any:
        """A ``DDLRenderer`` for this dialect."""

    def render_ddl(self, obj: Any, options: Mapping[str, Any]) -> list[str]:
        """Statements for a definition, table, index, view, enum, sequence, operation or a list of them."""

    def introspect_schema(self, connection: Session) -> Any:
        """The ``SchemaDefinition`` of ``connection``'s database, read in one batched pass."""


class _NoSchemaSupport:
    """A dialect without the schema toolkit: each operation says so, naming the dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def ddl_renderer(self) -> Any:
        raise self.dialect._unsupported("schema DDL rendering")

    def render_ddl(self, obj: Any, options: Mapping[str, Any]) -> list[str]:
        raise self.dialect._unsupported("render_ddl")

    def introspect_schema(self, connection: Session) -> Any:
        raise self.dialect._unsupported("schema introspection")


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterable[list[Sequence[Any]]]:
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def monotonic_ms(start: float) -> float:
    """Milliseconds elapsed since ``start`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - start) * 1000.0


# -- the connected database as a dialect sees it (re-exported by dbkeeper.contract.session) ---------------
# Here, beside Dialect, because each names the other: in two modules they would import each other.


class Session(Protocol):
    """What a dialect may use of the connected database it is given."""

    @property
    def name(self) -> str:
        """The connection's name (``dbkeeper.toml``'s, or derived from the URL)."""

    @property
    def url(self) -> DatabaseURL:
        """Where it is connected (render it with ``render()``: the password stays masked)."""

    @property
    def dialect(self) -> Dialect:
        """The dialect serving it."""

    @property
    def password(self) -> str | None:
        """A password given beside the URL (the seed API's form); a secret: never print or log it."""

    @property
    def connection_timeout(self) -> float:
        """Seconds each connection attempt may take (for sessions the dialect opens beside it)."""

    @property
    def max_retries(self) -> int:
        """How often a failed connection attempt is retried."""

    def execute(self, query: str, params: Any = None) -> QueryResult:
        """Run one statement (joins the calling thread's transaction, if any)."""

    def sqlalchemy_engine(self) -> Engine:
        """A SQLAlchemy engine on the same database (for reflection)."""

    def __enter__(self) -> Session:
        """Connected for the block (already connected: stays so), for hooks that get it unconnected."""

    def __exit__(self, *exc: object) -> None:
        """Disconnect what ``__enter__`` connected."""


class AdminSession(Session, Protocol):
    """A session the contract opened itself and must close."""

    def disconnect(self) -> None:
        """Close it."""


SessionOpener = Callable[[DatabaseURL], AdminSession]
_opener: list[SessionOpener] = []


def install_session_opener(opener: SessionOpener) -> None:
    """Called once by :mod:`dbkeeper.engine.connection`: how to open a one-connection admin session."""
    _opener[:] = [opener]


def open_session(url: DatabaseURL) -> AdminSession:
    """A connected one-connection session on ``url`` (the engine's ``DatabaseConnection``)."""
    if not _opener:
        from dbkeeper.errors import ConfigurationError

        raise ConfigurationError("no engine is loaded to open a connection with: import dbkeeper.engine.connection "
                                 "(or dbkeeper) first")
    return _opener[0](url)
