"""The migration lock on a Galera cluster: a lease row the cluster replicates.

``GET_LOCK`` is node-local on Galera, so the lock is a row of
``dbkeeper_migration_lock`` (primary key ``name``; ``token``, ``holder``,
``acquired_at``, ``heartbeat_at``, ``expires_at``), written in one statement:

    INSERT ... ON DUPLICATE KEY UPDATE token = IF(expires_at < UTC_TIMESTAMP(6), new, token), ...

Two nodes writing the row at once conflict on its key, and Galera's
certification lets exactly one commit; the other gets a deadlock error and
counts as "taken". The lease is stolen only once it has expired by the clock
of the server that steals it (never the client's), so client clocks do not
matter; the nodes' clocks should be NTP-synced, as Galera expects anyway.

The holder renews the lease from a background thread every third of its
length (:data:`DEFAULT_LEASE_SECONDS`, or ``DBKEEPER_MIGRATION_LEASE_SECONDS``);
a killed holder stops renewing and its lease expires. Caveat: a TOI DDL
statement blocks every commit of the cluster, the renewal included, so the
lease must outlast the longest DDL statement (the migrate output says so).
The lock session reads with ``wsrep_sync_wait`` so it sees the cluster's
latest row, not a stale copy of its node.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import ConfigurationError, DbKeeperError
from dbkeeper.migrations.errors import MigrationLockError
from dbkeeper.migrations.locking import LockHolder, MigrationLock, holder_record

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session
    from dbkeeper.engine.connection import DatabaseConnection

logger = logging.getLogger("dbkeeper.migrations")

LEASE_TABLE = "dbkeeper_migration_lock"
DEFAULT_LEASE_SECONDS = 60.0
LEASE_ENV = "DBKEEPER_MIGRATION_LEASE_SECONDS"

_CREATE = (
    f"CREATE TABLE IF NOT EXISTS `{LEASE_TABLE}` ("
    "name VARCHAR(191) NOT NULL PRIMARY KEY, token CHAR(32) NOT NULL, holder VARCHAR(1024) NOT NULL, "
    "node VARCHAR(255) NOT NULL DEFAULT '', acquired_at DATETIME(6) NOT NULL, heartbeat_at DATETIME(6) NOT NULL, "
    "expires_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
# Assignments run left to right and later ones see the new token: only a stolen (or our own) row changes.
_TAKE = (
    f"INSERT INTO `{LEASE_TABLE}` (name, token, holder, node, acquired_at, heartbeat_at, expires_at) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND) "
    "ON DUPLICATE KEY UPDATE token = IF(expires_at < UTC_TIMESTAMP(6), VALUES(token), token), "
    "holder = IF(token = VALUES(token), VALUES(holder), holder), "
    "node = IF(token = VALUES(token), VALUES(node), node), "
    "acquired_at = IF(token = VALUES(token), VALUES(acquired_at), acquired_at), "
    "heartbeat_at = IF(token = VALUES(token), VALUES(heartbeat_at), heartbeat_at), "
    "expires_at = IF(token = VALUES(token), VALUES(expires_at), expires_at)")
_RENEW = (f"UPDATE `{LEASE_TABLE}` SET heartbeat_at = UTC_TIMESTAMP(6), "
          "expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE name = ? AND token = ?")
_CONFLICT_MARKERS = ("deadlock", "1213", "lock wait timeout", "1205", "wsrep", "certification")


def lease_seconds() -> float:
    """The lease length: ``DBKEEPER_MIGRATION_LEASE_SECONDS`` when set (> 0), else :data:`DEFAULT_LEASE_SECONDS`."""
    raw = os.environ.get(LEASE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{LEASE_ENV}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{LEASE_ENV}={raw!r} must be a positive number of seconds")
    return value


class GaleraLeaseLock(MigrationLock):
    """A replicated lease row named ``<database>:<name>``, renewed while held, stolen only after expiry."""

    def __init__(self, connection: Session, name: str, timeout: float, lease: float | None = None,
                 notice: str | None = None) -> None:
        super().__init__(name, timeout)
        self.source = connection
        self.lease = lease if lease is not None else lease_seconds()
        self.notice = notice
        self.token = uuid.uuid4().hex
        self.lost = False
        self._session: DatabaseConnection | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lock_name: str | None = None

    def where(self) -> str:
        return f"migration lease {self.lock_name or self.name!r} on {self.source.name}"

    def session(self) -> DatabaseConnection:
        """The dedicated lock connection (causal reads on), the lease table, and the scoped name."""
        if self._session is None:
            from dbkeeper.engine.connection import DatabaseConnection

            session = DatabaseConnection.from_url(
                self.source.url, name=f"{self.source.name}-migration-lease", pool_size=1, max_overflow=0,
                pool_recycle=None, retry_on_disconnect=False, max_retries=self.source.max_retries,
                connection_timeout=self.source.connection_timeout, record_queries=False)
            session.connect()
            try:
                session.execute("SET SESSION wsrep_sync_wait = 15")
                database = session.execute("SELECT DATABASE() AS db").scalar() or ""
                session.execute(_CREATE)
            except DbKeeperError as exc:
                session.disconnect()
                raise MigrationLockError(
                    f"cannot use the replicated migration lease table {LEASE_TABLE} on {self.source.name}: "
                    f"{exc}. On a Galera cluster GET_LOCK is node-local, so dbkeeper refuses to migrate without "
                    "the lease; grant CREATE, INSERT, UPDATE, DELETE on it") from None
            self.lock_name = f"{database}:{self.name}"[:191]
            self._session = session
        return self._session

    def _micros(self) -> int:
        return int(self.lease * 1_000_000)

    def try_acquire(self) -> bool:
        session = self.session()
        record = holder_record()
        holder = json.dumps(record, sort_keys=True)
        node = str(session.execute("SELECT @@wsrep_node_name AS n").scalar() or "")
        try:
            session.execute(_TAKE, (self.lock_name, self.token, holder, node, self._micros()))
        except DbKeeperError as exc:
            if any(marker in str(exc).lower() for marker in _CONFLICT_MARKERS):
                return False  # another node's write won certification: the lease is taken
            raise
        owner = session.execute(f"SELECT token FROM `{LEASE_TABLE}` WHERE name = ?", (self.lock_name,)).scalar()
        if owner != self.token:
            return False
        self._start_renewing()
        if self.notice and self.on_wait is not None:
            self.on_wait(self.notice)
        return True

    # -- renewal ------------------------------------------------------------------------------------------
    def _start_renewing(self) -> None:
        self._stop.clear()
        self.lost = False
        self._renewer = threading.Thread(target=self._renew_loop, name="dbkeeper-migration-lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = max(self.lease / 3.0, 0.05)
        while not self._stop.wait(interval):
            session = self._session
            if session is None:
                return
            try:
                renewed = session.execute(_RENEW, (self._micros(), self.lock_name, self.token)).rows_affected
            except DbKeeperError as exc:
                logger.warning("could not renew %s: %s", self.where(), exc)
                continue
            if renewed == 0 and not self._stop.is_set():
                self.lost = True
                logger.error("%s was lost: it expired and another migrator took it", self.where())
                return

    def _stop_renewing(self) -> None:
        self._stop.set()
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.join(timeout=30)

    # -- release ------------------------------------------------------------------------------------------
    def release(self) -> None:
        self._stop_renewing()
        session = self._session
        if session is None:
            return
        try:
            session.execute(f"DELETE FROM `{LEASE_TABLE}` WHERE name = ? AND token = ?", (self.lock_name, self.token))
        except DbKeeperError as exc:
            logger.warning("could not delete %s (it expires by itself): %s", self.where(), exc)
        finally:
            self.close()

    def close(self) -> None:
        self._stop_renewing()
        session, self._session = self._session, None
        if session is not None:
            session.disconnect()

    def holder(self) -> LockHolder | None:
        session = self.session()
        row = session.execute(
            f"SELECT holder, node, heartbeat_at, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS left_us "
            f"FROM `{LEASE_TABLE}` WHERE name = ?", (self.lock_name,)).first()
        if row is None:
            return None
        try:
            data: dict[str, Any] = json.loads(str(row["holder"]))
        except ValueError:
            data = {}
        left = int(row["left_us"] or 0) / 1e6
        details = {"node": row["node"] or None, "last heartbeat": str(row["heartbeat_at"]),
                   "lease expires in (s)": f"{left:.1f}" if left > 0 else "expired"}
        return LockHolder(pid=data.get("pid"), host=data.get("host"), user=data.get("user"),
                          application=data.get("program"), since=data.get("since"), details=details)
