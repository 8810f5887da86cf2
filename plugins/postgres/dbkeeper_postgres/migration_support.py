"""What the migration engine needs from PostgreSQL: splitting, transaction rules and the lock.

- Splitting understands dollar quoting (``$$``, ``$body$``), ``E'...'``
  escapes, nested block comments and ``BEGIN ATOMIC ... END`` bodies.
- Transactional DDL: each migration runs in one transaction, except
  statements PostgreSQL refuses inside a transaction block (``CREATE/DROP
  INDEX CONCURRENTLY``, ``REINDEX ... CONCURRENTLY``, ``VACUUM``, ``CREATE/DROP
  DATABASE``/``TABLESPACE``, ``ALTER SYSTEM``, subscriptions) and ``ALTER TYPE
  ... ADD VALUE``, whose new value is unusable until committed; those run on
  their own with progress recorded around them.
- The lock is a session-level advisory lock (``pg_try_advisory_lock`` with two
  keys derived from the lock name) held on a dedicated connection for the
  whole run and tried with backoff — never a blocking ``pg_advisory_lock``,
  which could wait forever behind a ``CREATE INDEX CONCURRENTLY`` that itself
  waits for the waiter. PostgreSQL drops the lock when the holder's session
  ends, so a killed migrator never leaves it stale. Waiters name the holder
  from ``pg_locks`` and ``pg_stat_activity``: backend pid, user, client
  address and ``application_name``, which the holder sets to its own pid and
  host.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from dbkeeper.contract.dialect import SCRIPT_ELAPSED
from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations.locking import LockHolder, MigrationLock
from dbkeeper.sql.split import POSTGRES, keywords, split_sql

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session
    from dbkeeper.engine.connection import DatabaseConnection

_ALWAYS_OUTSIDE = frozenset({"VACUUM"})
_CREATE_DROP_OUTSIDE = frozenset({"DATABASE", "TABLESPACE", "SUBSCRIPTION"})

_HOLDER_SQL = (
    "SELECT a.pid, a.usename, a.application_name, host(a.client_addr) AS client_addr, "
    "CAST(a.backend_start AS text) AS backend_start FROM pg_catalog.pg_locks l "
    "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
    "AND CAST(l.classid AS bigint) = ? AND CAST(l.objid AS bigint) = ?"
)


class PostgresMigrationSupport:
    """Mixin for :class:`~dbkeeper_postgres.dialect.PostgresDialect` (listed before ``Dialect``)."""

    def split_statements(self, sql: str) -> list[str]:
        """Split with PostgreSQL's lexical rules (dollar quotes, ``E''`` strings, nested comments)."""
        return split_sql(sql, POSTGRES)

    def is_non_transactional(self, statement: str) -> bool:
        """True for statements PostgreSQL will not run inside a transaction block (see module doc)."""
        words = keywords(statement, 8, POSTGRES)
        if not words:
            return False
        first = words[0]
        if first in _ALWAYS_OUTSIDE:
            return True
        if first in ("CREATE", "DROP"):
            if len(words) > 1 and words[1] in _CREATE_DROP_OUTSIDE:
                return True
            head = words[1:4]
            return "INDEX" in head and "CONCURRENTLY" in words[2:5]
        if first == "REINDEX":
            return "CONCURRENTLY" in words or (len(words) > 1 and words[1] in ("DATABASE", "SYSTEM"))
        if first == "ALTER":
            second = words[1] if len(words) > 1 else ""
            if second in ("SYSTEM", "SUBSCRIPTION"):
                return True
            if second == "TYPE":
                return any(w == "ADD" and i + 1 < len(words) and words[i + 1] == "VALUE"
                           for i, w in enumerate(words))
            if second == "DATABASE":
                return "TABLESPACE" in words
        if first == "CLUSTER":
            return len(words) == 1
        return False

    def commits_implicitly(self, statement: str) -> bool:
        """Never: PostgreSQL DDL is transactional."""
        return False

    def atomic_script(self, statements: Sequence[str]) -> str | None:
        """The statements joined into one simple-query message, which PostgreSQL runs as one transaction.

        No explicit ``BEGIN``/``COMMIT``: on an error the server rolls the
        implicit transaction back and the session is idle again, so the
        pooled connection is never left inside an aborted transaction.
        """
        return ";\n".join(statements)

    def relaxed_commit_sql(self) -> str | None:
        """Commit without waiting for the WAL flush; the run's last, synchronous commit flushes them all."""
        return "SET LOCAL synchronous_commit TO off"

    def sql_literal(self, value: Any) -> str:
        """``NULL``, numbers as written, strings dollar-quoted with a tag that does not occur in them.

        Dollar quoting does not depend on ``standard_conforming_strings``.
        ``SCRIPT_ELAPSED`` is the time since the server received the script.
        """
        if value is SCRIPT_ELAPSED:
            return "EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp())"
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        text = str(value)
        tag = "$dbk$"
        while (text + tag).find(tag) != len(text):  # the tag must first occur where it closes the string
            tag = f"$dbk{secrets.token_hex(4)}$"
        return f"{tag}{text}{tag}"

    def current_schema(self, connection: Session) -> str | None:
        """``current_schema()``, where unqualified tables are created."""
        value = connection.execute("SELECT current_schema() AS schema").scalar()
        return str(value) if value else None

    def migration_table_exists(self, connection: Session, table: str, schema: str | None) -> bool:
        """Looks the table up in ``pg_tables`` (in ``schema``, else the current schema)."""
        row = connection.execute(
            "SELECT 1 AS present FROM pg_catalog.pg_tables WHERE schemaname = COALESCE(?, current_schema()) "
            "AND tablename = ?", (schema, table)).first()
        return row is not None

    def migration_lock(self, connection: Session, name: str, timeout: float) -> AbstractContextManager[Any]:
        """A session advisory lock on a dedicated connection (see the module doc)."""
        return PostgresAdvisoryLock(connection, name, timeout)


def advisory_keys(name: str) -> tuple[int, int]:
    """Two non-negative int4 keys for ``pg_try_advisory_lock(key1, key2)``, derived from ``name``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:4], "big") & 0x7FFFFFFF, int.from_bytes(digest[4:8], "big") & 0x7FFFFFFF)


class PostgresAdvisoryLock(MigrationLock):
    """``pg_try_advisory_lock`` held on a connection of its own for the whole run."""

    def __init__(self, connection: Session, name: str, timeout: float) -> None:
        super().__init__(name, timeout)
        self.source = connection
        self.keys = advisory_keys(name)
        self._session: DatabaseConnection | None = None

    def where(self) -> str:
        return f"migration lock {self.name!r} (advisory lock {self.keys[0]}, {self.keys[1]}) on {self.source.name}"

    def session(self) -> DatabaseConnection:
        """The dedicated lock connection (opened on first use, tagged with our pid and host)."""
        if self._session is None:
            from dbkeeper.engine.connection import DatabaseConnection
            from dbkeeper.migrations.history import Operator

            session = DatabaseConnection.from_url(
                self.source.url, name=f"{self.source.name}-migration-lock", pool_size=1, max_overflow=0,
                pool_recycle=None, retry_on_disconnect=False, max_retries=self.source.max_retries,
                connection_timeout=self.source.connection_timeout)
            session.connect()
            operator = Operator.current()
            session.execute("SELECT set_config('application_name', ?, false) AS name",
                            (f"dbkeeper migrate pid={operator.pid} host={operator.host}"[:63],))
            self._session = session
        return self._session

    def try_acquire(self) -> bool:
        return bool(self.session().execute("SELECT pg_try_advisory_lock(?, ?) AS ok", self.keys).scalar())

    def release(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            session.execute("SELECT pg_advisory_unlock(?, ?) AS released", self.keys)
        except DbKeeperError:
            pass  # the session is gone, and with it the lock
        finally:
            self.close()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.disconnect()

    def holder(self) -> LockHolder | None:
        row = self.session().execute(_HOLDER_SQL, self.keys).first()
        if row is None:
            return None
        return LockHolder(user=row["usename"], host=row["client_addr"] or "local socket",
                          application=row["application_name"] or None, since=row["backend_start"],
                          details={"backend pid": row["pid"]})
