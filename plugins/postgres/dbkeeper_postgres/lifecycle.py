"""PostgreSQL: a ``psycopg.AsyncConnection`` with aiosqlite's calls and transaction rules.

The postgres dialect's ``connect_async`` returns an autocommit connection.
This adapter keeps autocommit on and opens a transaction itself before an
``INSERT``/``UPDATE``/``DELETE`` (the rule sqlite3 applies on SQLite), so a
method behaves the same on both backends: reads cost one round trip, writes
are atomic until ``commit()``, DDL outside an upgrade applies at once, and the
upgrade runs inside one explicit ``BEGIN`` ... ``COMMIT`` (PostgreSQL rolls DDL
back too, so no snapshot is needed).

Portable ``?`` and ``:name`` placeholders are rewritten with
:func:`dbkeeper.sql.placeholders.to_pyformat`; statements already written with
``%s`` pass through. psycopg is never imported: the connection is used
through its public methods only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.lifecycle.connection import (
    LifecycleConnection,
    Parameters,
    PendingCursor,
    starts_implicit_transaction,
    transaction_verb,
)
from dbkeeper.sql.placeholders import to_pyformat

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.lifecycle._log import Log

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


class PsycopgConnection(LifecycleConnection):
    """``self.db`` for PostgreSQL."""

    dialect_name = "postgres"

    def __init__(self, raw: Any, log: Log, backslash_escapes: bool) -> None:
        super().__init__(raw, log)
        self._backslash_escapes = backslash_escapes

    @classmethod
    async def open(cls, raw: Any, log: Log, dialect: Dialect) -> PsycopgConnection:
        """Adopt a freshly opened psycopg async connection (autocommit is switched on if it was off)."""
        if not raw.autocommit:
            if int(raw.info.transaction_status) != _IDLE:
                await raw.rollback()
            await raw.set_autocommit(True)
        return cls(raw, log, dialect.backslash_escapes)

    @property
    def in_transaction(self) -> bool:
        return int(self._raw.info.transaction_status) != _IDLE

    def _query(self, sql: str, parameters: Parameters | None) -> tuple[str, Parameters | None]:
        if not parameters:
            return sql, None
        return to_pyformat(sql, named=isinstance(parameters, Mapping),
                           backslash_escapes=self._backslash_escapes), parameters

    async def _run(self, sql: str, parameters: Parameters | None) -> Any:
        if self._upgrading:
            verb = transaction_verb(sql)
            if verb is not None:
                return await self._transaction_statement(verb)
        if not self.in_transaction and starts_implicit_transaction(sql):
            await self._raw.execute("BEGIN")
        query, params = self._query(sql, parameters)
        cursor = self._raw.cursor()
        try:
            await cursor.execute(query, params)
        except BaseException:
            await cursor.close()
            raise
        return cursor

    def execute(self, sql: str, parameters: Parameters | None = None) -> Any:
        return PendingCursor(self._run(sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Parameters | None = None) -> list[Any]:
        cursor = await self._run(sql, parameters)
        try:
            if cursor.description is None:
                return []
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    def executemany(self, sql: str, parameters: Iterable[Parameters]) -> Any:
        return PendingCursor(self._run_many(sql, list(parameters)))

    async def _run_many(self, sql: str, parameters: list[Parameters]) -> Any:
        if not self.in_transaction and starts_implicit_transaction(sql):
            await self._raw.execute("BEGIN")
        named = bool(parameters) and isinstance(parameters[0], Mapping)
        query = to_pyformat(sql, named=named, backslash_escapes=self._backslash_escapes) if parameters else sql
        cursor = self._raw.cursor()
        try:
            await cursor.executemany(query, parameters)
        except BaseException:
            await cursor.close()
            raise
        return cursor

    def executescript(self, script: str) -> Any:
        return PendingCursor(self._run(script, None))

    async def _begin(self) -> None:
        await self._raw.execute("BEGIN")

    async def lifecycle_table_exists(self, name: str) -> bool:
        cursor = await self._raw.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = %s",
            (name,),
        )
        try:
            return await cursor.fetchone() is not None
        finally:
            await cursor.close()
