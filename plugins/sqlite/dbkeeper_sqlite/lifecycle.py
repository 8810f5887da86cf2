"""SQLite: the dialect's aiosqlite connection, passed through with upgrade guards.

Three things differ from a bare aiosqlite connection:

* the connection uses the sqlite3 module's classic transaction handling
  (``isolation_level = ""``): a write opens a transaction that ``commit()``
  ends, so a method's writes land together or not at all;
* inside an upgrade, transaction statements are absorbed (see
  :mod:`dbkeeper.lifecycle.connection`) and ``executescript`` runs its
  statements one by one inside the upgrade transaction (sqlite3's own
  ``executescript`` would commit it first);
* at the end of each operation ``row_factory``/``text_factory`` go back to the
  defaults, as on the fresh connection the old ``DBManager`` opened per call.

aiosqlite runs each connection on a non-daemon thread, so a connection that
is never closed keeps the interpreter from exiting. Applications that never
called ``close()`` on the old ``DBManager`` (it held no connection) would hang
at exit; :func:`_stop_leaked_connections` stops such threads when the
interpreter shuts down.
"""

from __future__ import annotations

import sqlite3
import threading
import warnings
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dbkeeper.lifecycle.connection import (
    LifecycleConnection,
    Parameters,
    PendingCursor,
    transaction_verb,
)

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.lifecycle._log import Log

_open: weakref.WeakSet[Any] = weakref.WeakSet()
_guard_installed = False
_guard_lock = threading.Lock()


def _stop_leaked_connections() -> None:
    """Stop the worker thread of every aiosqlite connection still open at interpreter exit."""
    for raw in list(_open):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw.stop()
        except Exception:  # exiting anyway; a failure here must not mask the real exit status
            pass


def _install_exit_guard() -> None:
    global _guard_installed
    with _guard_lock:
        if _guard_installed:
            return
        register = getattr(threading, "_register_atexit", None)
        if register is not None:  # runs before non-daemon threads are joined
            register(_stop_leaked_connections)
        _guard_installed = True


def split_script(script: str) -> list[str]:
    """Split a SQL script into complete statements (trigger bodies and strings stay whole)."""
    statements: list[str] = []
    start = 0
    index = script.find(";")
    while index != -1:
        candidate = script[start:index + 1]
        if sqlite3.complete_statement(candidate):
            if candidate.strip() != ";":
                statements.append(candidate.strip())
            start = index + 1
        index = script.find(";", index + 1)
    rest = script[start:].strip()
    if rest:
        statements.append(rest)
    return statements


class AiosqliteConnection(LifecycleConnection):
    """``self.db`` for SQLite: aiosqlite's calls, unchanged outside upgrades."""

    dialect_name = "sqlite"

    @classmethod
    async def open(cls, raw: Any, log: Log, dialect: Dialect) -> AiosqliteConnection:
        """Adopt a freshly opened aiosqlite connection."""
        return cls.wrap(raw, log)

    @classmethod
    def wrap(cls, raw: Any, log: Log) -> AiosqliteConnection:
        """Switch ``raw`` to classic transactions and stop its thread at exit if nobody closes it."""
        raw.isolation_level = ""  # classic sqlite3 transactions: writes open one, commit() ends it
        _install_exit_guard()
        _open.add(raw)
        return cls(raw, log)

    @property
    def in_transaction(self) -> bool:
        return bool(self._raw.in_transaction)

    @property
    def row_factory(self) -> Any:
        """aiosqlite's ``row_factory`` (reset to ``None`` after every operation)."""
        return self._raw.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._raw.row_factory = factory

    @property
    def text_factory(self) -> Any:
        """aiosqlite's ``text_factory`` (reset to ``str`` after every operation)."""
        return self._raw.text_factory

    @text_factory.setter
    def text_factory(self, factory: Any) -> None:
        self._raw.text_factory = factory

    def execute(self, sql: str, parameters: Parameters | None = None) -> Any:
        if self._upgrading:
            verb = transaction_verb(sql)
            if verb is not None:
                return PendingCursor(self._transaction_statement(verb))
        return self._raw.execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Parameters | None = None) -> list[Any]:
        if self._upgrading and transaction_verb(sql) is not None:
            await self.execute(sql, parameters)
            return []
        return list(await self._raw.execute_fetchall(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Parameters]) -> Any:
        return self._raw.executemany(sql, parameters)

    def executescript(self, script: str) -> Any:
        if self._upgrading:
            return PendingCursor(self._script_in_upgrade(script))
        return self._raw.executescript(script)

    async def _script_in_upgrade(self, script: str) -> Any:
        cursor: Any = None
        for statement in split_script(script):
            if cursor is not None:
                await cursor.close()
            cursor = await self.execute(statement)
        return cursor if cursor is not None else await self._raw.execute("SELECT 1 WHERE 0")

    async def _begin(self) -> None:
        await self._raw.execute("BEGIN IMMEDIATE")

    async def lifecycle_end_operation(self, name: str, *, failed: bool) -> None:
        raw = self._raw
        if failed:
            # A cancelled call leaves its statement running in aiosqlite's thread, and the rollback queued
            # behind it would wait for it to finish (a long query: minutes). sqlite3's interrupt() is
            # thread-safe and a no-op when nothing runs.
            driver = getattr(raw, "_conn", None)
            if driver is not None:
                driver.interrupt()
        if raw.row_factory is not None:
            raw.row_factory = None
        if raw.text_factory is not str:
            raw.text_factory = str
        if raw.in_transaction:
            await super().lifecycle_end_operation(name, failed=failed)

    async def lifecycle_table_exists(self, name: str) -> bool:
        rows = await self._raw.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        )
        return bool(list(rows))

    async def lifecycle_legacy_version_table(self, name: str) -> bool:
        if not await self.lifecycle_table_exists(name):
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        columns = {str(row[1]).lower() for row in await self._raw.execute_fetchall(f"PRAGMA table_info({quoted})")}
        return columns == {"major", "minor", "patch"}

    async def close(self) -> None:
        try:
            await self._raw.close()
        finally:
            _open.discard(self._raw)
