"""What the migration engine needs from MySQL/MariaDB: splitting, implicit commits and the lock.

- Splitting understands backslash escapes, ``#`` comments, ``/*! ... */``
  executable comments, ``BEGIN ... END`` bodies of procedures, functions,
  triggers and events written without ``DELIMITER`` — and ``DELIMITER`` lines
  for scripts written for the mysql client.
- DDL (``CREATE``, ``ALTER``, ``DROP``, ``RENAME``, ``TRUNCATE``, account
  and maintenance statements) commits implicitly, so a migration containing
  any runs statement by statement: each DDL statement is announced in the
  history before it runs and recorded after; consecutive DML statements
  share one transaction with their progress update. A failure at statement
  *k* is recorded and blocks the next run until ``repair``.
- On a single server the lock is ``GET_LOCK(name, 0)`` tried with backoff on a dedicated
  connection, the name scoped by ``DATABASE()`` (named locks are server-wide).
  The server releases it when the session ends, so a killed migrator never
  leaves it stale; waiters name the holder via ``IS_USED_LOCK`` and the
  process list. On a Galera node ``GET_LOCK`` is node-local, so the lock is a
  replicated lease row instead (:mod:`dbkeeper_mysql.lease_lock`), and a
  node where neither is safe is refused (:mod:`dbkeeper_mysql.galera`).
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations.locking import LockHolder, MigrationLock
from dbkeeper.sql.split import MYSQL, keywords, split_sql

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session
    from dbkeeper.engine.connection import DatabaseConnection

#: First words of statements that commit the open transaction before (and after) they run.
IMPLICIT_COMMIT = frozenset({
    "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "UNLOCK", "ANALYZE",
    "OPTIMIZE", "REPAIR", "FLUSH", "INSTALL", "UNINSTALL", "CACHE", "RESET", "LOAD",
})
MAX_LOCK_NAME = 64


class MySQLMigrationSupport:
    """Mixin for :class:`~dbkeeper_mysql.dialect.MySQLDialect` (listed before ``Dialect``)."""

    def split_statements(self, sql: str) -> list[str]:
        """Split with MySQL's lexical rules, including ``DELIMITER``-free routine bodies."""
        return split_sql(sql, MYSQL)

    def is_non_transactional(self, statement: str) -> bool:
        """Nothing beyond what :meth:`commits_implicitly` covers."""
        return False

    def commits_implicitly(self, statement: str) -> bool:
        """DDL and account/maintenance statements; ``CREATE/DROP TEMPORARY TABLE`` do not commit."""
        words = keywords(statement, 3, MYSQL)
        if not words or words[0] not in IMPLICIT_COMMIT:
            return False
        if words[0] in ("CREATE", "DROP") and len(words) > 1 and words[1] == "TEMPORARY":
            return False
        if words[0] == "LOAD":
            return len(words) > 1 and words[1] == "INDEX"
        return True

    def current_schema(self, connection: Session) -> str | None:
        """``DATABASE()``: the database unqualified tables belong to."""
        value = connection.execute("SELECT DATABASE() AS db").scalar()
        return str(value) if value else None

    def migration_table_exists(self, connection: Session, table: str, schema: str | None) -> bool:
        """Looks the table up in ``information_schema.tables``."""
        row = connection.execute(
            "SELECT 1 AS present FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) "
            "AND table_name = ?", (schema, table)).first()
        return row is not None

    def migration_lock(self, connection: Session, name: str, timeout: float) -> AbstractContextManager[Any]:
        """``GET_LOCK`` on a single server; a replicated lease row on a Galera node; refused where neither is safe.

        ``GET_LOCK`` is node-local on Galera (see :mod:`dbkeeper_mysql.galera`).
        """
        from dbkeeper_mysql.galera import CLUSTER, cluster_state, toi_warning

        state = cluster_state(connection) if getattr(connection, "is_connected", True) else _probe(connection)
        if state.kind == CLUSTER:
            from dbkeeper_mysql.lease_lock import GaleraLeaseLock

            return GaleraLeaseLock(connection, name, timeout, notice=toi_warning(connection, state))
        return MySQLNamedLock(connection, name, timeout)


def _probe(connection: Session) -> Any:
    """The cluster state read on a short-lived session, for a lock asked of a connection not yet connected.

    A lock may be built before its connection connects (the lock opens its own
    session on acquire); the detection must not require the caller to connect.
    """
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper_mysql.galera import cluster_state

    probe = DatabaseConnection.from_url(
        connection.url, name=f"{connection.name}-cluster-probe", pool_size=1, max_overflow=0, pool_recycle=None,
        retry_on_disconnect=False)
    probe.connect()
    try:
        return cluster_state(probe)
    finally:
        probe.disconnect()


class MySQLNamedLock(MigrationLock):
    """A MySQL user-level lock (``GET_LOCK``) named ``<database>:<name>``."""

    def __init__(self, connection: Session, name: str, timeout: float) -> None:
        super().__init__(name, timeout)
        self.source = connection
        self._session: DatabaseConnection | None = None
        self.lock_name: str | None = None

    def where(self) -> str:
        return f"migration lock {self.lock_name or self.name!r} on {self.source.name}"

    def session(self) -> DatabaseConnection:
        """The dedicated lock connection; also fixes the scoped lock name."""
        if self._session is None:
            from dbkeeper.engine.connection import DatabaseConnection

            session = DatabaseConnection.from_url(
                self.source.url, name=f"{self.source.name}-migration-lock", pool_size=1, max_overflow=0,
                pool_recycle=None, retry_on_disconnect=False, max_retries=self.source.max_retries,
                connection_timeout=self.source.connection_timeout)
            session.connect()
            database = session.execute("SELECT DATABASE() AS db").scalar() or ""
            scoped = f"{database}:{self.name}"
            if len(scoped) > MAX_LOCK_NAME:
                scoped = "dbkeeper:" + hashlib.sha256(scoped.encode("utf-8")).hexdigest()[: MAX_LOCK_NAME - 9]
            self.lock_name = scoped
            self._session = session
        return self._session

    def try_acquire(self) -> bool:
        session = self.session()
        return bool(session.execute("SELECT GET_LOCK(?, 0) AS ok", (self.lock_name,)).scalar() == 1)

    def release(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            session.execute("SELECT RELEASE_LOCK(?) AS released", (self.lock_name,))
        except DbKeeperError:
            pass  # the session is gone, and with it the lock
        finally:
            self.close()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.disconnect()

    def holder(self) -> LockHolder | None:
        session = self.session()
        owner = session.execute("SELECT IS_USED_LOCK(?) AS cid", (self.lock_name,)).scalar()
        if owner is None:
            return None
        row = session.execute(
            "SELECT USER AS user_name, HOST AS host_name, TIME AS seconds FROM information_schema.PROCESSLIST "
            "WHERE ID = ?", (int(owner),)).first()
        if row is None:
            return LockHolder(details={"connection id": int(owner)})
        return LockHolder(user=row["user_name"], host=row["host_name"],
                          details={"connection id": int(owner), "connected for (s)": row["seconds"]})
