"""The connection a versioned database keeps open: ``self.db`` inside decorated methods.

Existing ``DBManager`` subclasses talk to an ``aiosqlite.Connection``
(``await self.db.execute(...)``, ``execute_fetchall``, ``commit``). The
lifecycle keeps one connection per instance for its whole life and hands it
out through :class:`LifecycleConnection`, an adapter with exactly those calls
on every backend:

* SQLite (``dbkeeper_sqlite.lifecycle``): a thin pass-through to the dialect's aiosqlite
  connection, switched to the sqlite3 module's classic transaction handling
  (an ``INSERT``/``UPDATE``/``DELETE``/``REPLACE`` opens a transaction that
  ``commit()`` ends) so a method's writes are atomic, as they were when the old
  ``DBManager`` opened a fresh connection for each call.
* PostgreSQL (``dbkeeper_postgres.lifecycle``): a ``psycopg.AsyncConnection`` made to behave
  the same way, with ``?``/``:name`` placeholders rewritten to pyformat.

During an upgrade the lifecycle owns the transaction: ``commit()``, ``BEGIN``
and friends issued by ``init_db``/``migrate_db`` are deferred to the end of the
upgrade, and a ``rollback()`` marks the upgrade as failed, so nothing a hook
does can half-apply a schema change.

The core imports no driver and knows no adapter: the raw connection comes
from ``Dialect.connect_async``, and the adapter is the one the dialect's
plugin registered (``dbkeeper_register_lifecycle_adapters``).
"""

from __future__ import annotations

import abc
from collections.abc import Coroutine, Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.errors import UnsupportedOperationError

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.lifecycle._log import Log
    from dbkeeper.urls import DatabaseURL

#: Statement parameters: a sequence for ``?`` placeholders, a mapping for ``:name``.
Parameters = Sequence[Any] | Mapping[str, Any]

_BEGIN_WORDS = ("BEGIN", "START TRANSACTION")
_COMMIT_WORDS = ("COMMIT", "END")
_ROLLBACK_WORDS = ("ROLLBACK", "ABORT")
_IMPLICIT_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def transaction_verb(sql: str) -> str | None:
    """``"begin"``, ``"commit"`` or ``"rollback"`` for transaction-control statements, else ``None``.

    ``ROLLBACK TO`` (a savepoint) and everything else return ``None``.
    """
    head = sql.lstrip()[:20].upper()
    if not head or head[0] not in "BSCEAR":
        return None
    if any(_word_at_start(head, word) for word in _BEGIN_WORDS):
        return "begin"
    if any(_word_at_start(head, word) for word in _COMMIT_WORDS):
        return "commit"
    for word in _ROLLBACK_WORDS:
        if _word_at_start(head, word):
            rest = head[len(word):].lstrip()
            if rest.startswith("TO ") or rest.startswith("TRANSACTION TO") or rest.startswith("WORK TO"):
                return None
            return "rollback"
    return None


def starts_implicit_transaction(sql: str) -> bool:
    """True for the statements that open a transaction implicitly (sqlite3's classic rule)."""
    head = sql.lstrip()[:7].upper()
    return any(_word_at_start(head, word) for word in _IMPLICIT_WORDS)


def _word_at_start(text: str, word: str) -> bool:
    if not text.startswith(word):
        return False
    following = text[len(word):len(word) + 1]
    return not following or not (following.isalnum() or following == "_")


class PendingCursor:
    """What ``execute()`` returns: await it for the cursor, or ``async with`` it to close the cursor after.

    The same dual use as aiosqlite's ``execute()`` result, so both
    ``cursor = await self.db.execute(...)`` and
    ``async with self.db.execute(...) as cursor:`` keep working.
    """

    __slots__ = ("_coro", "_cursor")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self._cursor: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    async def __aenter__(self) -> Any:
        self._cursor = await self._coro
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class EmptyCursor:
    """The result of a statement the lifecycle absorbed (a ``COMMIT`` inside an upgrade)."""

    rowcount = -1
    lastrowid = None
    description = None

    async def fetchone(self) -> Any:
        return None

    async def fetchall(self) -> list[Any]:
        return []

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return []

    async def close(self) -> None:
        return None

    def __aiter__(self) -> EmptyCursor:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


class LifecycleConnection(abc.ABC):
    """``self.db``: the aiosqlite-style calls every backend provides, plus upgrade bookkeeping.

    Public calls (what decorated methods use): :meth:`execute`,
    :meth:`execute_fetchall`, :meth:`executemany`, :meth:`executescript`,
    :meth:`commit`, :meth:`rollback`, :attr:`in_transaction` and :attr:`raw`
    (the driver's own connection, an escape hatch that bypasses the
    lifecycle's transaction guarantees). Other attribute reads fall through to
    the driver connection. Methods whose names start with ``lifecycle_`` are
    for the lifecycle itself.
    """

    #: Registered name of the dialect this adapter serves (``dbkeeper_register_lifecycle_adapters``).
    dialect_name: ClassVar[str] = ""

    def __init__(self, raw: Any, log: Log) -> None:
        self._raw = raw
        self._log = log
        self._upgrading = False
        self._upgrade_broken: str | None = None

    @classmethod
    async def open(cls, raw: Any, log: Log, dialect: Dialect) -> LifecycleConnection:
        """Adopt ``raw``, the connection ``dialect.connect_async`` just opened; an adapter adds its set-up."""
        return cls(raw, log)

    # -- what decorated methods use -------------------------------------------------
    @property
    def raw(self) -> Any:
        """The driver connection (aiosqlite / psycopg). Using it bypasses the upgrade transaction."""
        return self._raw

    @property
    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """True while a transaction is open on the connection."""

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Parameters | None = None) -> Any:
        """Run one statement; await the result for a cursor, or use it with ``async with``."""

    @abc.abstractmethod
    async def execute_fetchall(self, sql: str, parameters: Parameters | None = None) -> list[Any]:
        """Run one statement and return all its rows (``[]`` for statements without rows)."""

    @abc.abstractmethod
    def executemany(self, sql: str, parameters: Iterable[Parameters]) -> Any:
        """Run one statement for each parameter set; await for the cursor."""

    @abc.abstractmethod
    def executescript(self, script: str) -> Any:
        """Run several ``;``-separated statements without parameters; await for the cursor."""

    async def commit(self) -> None:
        """Commit the open transaction; inside an upgrade the commit waits for the upgrade's end."""
        if self._upgrading:
            self._log.debug("commit() inside init_db/migrate_db deferred to the end of the upgrade")
            return
        await self._raw.commit()

    async def rollback(self) -> None:
        """Roll back the open transaction; inside an upgrade this fails the whole upgrade."""
        if self._upgrading:
            await self._break_upgrade("rollback() was called inside the upgrade")
            return
        await self._raw.rollback()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._raw, name)

    # -- lifecycle bookkeeping -----------------------------------------------------
    async def _transaction_statement(self, verb: str) -> EmptyCursor:
        """Absorb a transaction-control statement issued inside an upgrade."""
        if verb == "rollback":
            await self._break_upgrade("a ROLLBACK statement ran inside the upgrade")
        else:
            self._log.debug("%s statement inside init_db/migrate_db deferred to the end of the upgrade",
                            verb.upper())
        return EmptyCursor()

    async def _break_upgrade(self, reason: str) -> None:
        """Roll back now (the hook asked for it), reopen the transaction, and remember the upgrade failed."""
        self._upgrade_broken = self._upgrade_broken or reason
        await self._raw.rollback()
        await self._begin()

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Open the upgrade transaction, taking the write lock up front where the database has one."""

    async def lifecycle_begin_upgrade(self) -> None:
        """Start the transaction an upgrade runs in; hooks can no longer end it early."""
        if self.in_transaction:
            await self._raw.rollback()
        await self._begin()
        self._upgrading = True
        self._upgrade_broken = None

    @property
    def lifecycle_upgrade_broken(self) -> str | None:
        """Why the upgrade transaction can no longer be trusted, or ``None``."""
        if self._upgrading and not self.in_transaction:
            return self._upgrade_broken or "the upgrade transaction was ended behind the lifecycle's back"
        return self._upgrade_broken

    async def lifecycle_commit_upgrade(self) -> None:
        """Commit the upgrade."""
        self._upgrading = False
        if self.in_transaction:
            await self._raw.commit()

    async def lifecycle_abort_upgrade(self) -> bool:
        """Roll the upgrade back; True when the rollback ran on an intact transaction."""
        intact = self._upgrade_broken is None and self.in_transaction
        self._upgrading = False
        try:
            if self.in_transaction:
                await self._raw.rollback()
        except Exception as exc:
            self._log.error("rolling back the failed upgrade failed", exc=exc)
            return False
        return intact

    async def lifecycle_end_operation(self, name: str, *, failed: bool) -> None:
        """Discard what an operation left uncommitted (the old DBManager closed the connection instead)."""
        if self.in_transaction:
            if not failed:
                self._log.warning(
                    "%s returned without commit(); its uncommitted changes were rolled back", name
                )
            await self._raw.rollback()

    @abc.abstractmethod
    async def lifecycle_table_exists(self, name: str) -> bool:
        """True when a table called ``name`` exists in the connected database/schema."""

    async def lifecycle_legacy_version_table(self, name: str) -> bool:
        """True when ``name`` is an old ``DBManager`` version table (major, minor, patch) to adopt."""
        return False

    async def close(self) -> None:
        """Close the driver connection."""
        await self._raw.close()


async def open_lifecycle_connection(dialect: Dialect, url: DatabaseURL, log: Log,
                                    timeout: float | None) -> LifecycleConnection:
    """Open the dialect's asyncio connection and wrap it in the adapter its plugin registered."""
    from dbkeeper.engine.plugins import get_registry

    adapter = get_registry().lifecycle_adapter(dialect.name)
    raw = await dialect.connect_async(url, timeout=timeout)
    if adapter is None:
        await raw.close()
        raise UnsupportedOperationError(
            f"the versioned lifecycle has no adapter for dialect {dialect.name!r} "
            f"(its connect_async() returned {type(raw).__module__}.{type(raw).__qualname__}); "
            "its plugin registers one through the dbkeeper_register_lifecycle_adapters hook"
        )
    try:
        opened: LifecycleConnection = await adapter.open(raw, log, dialect)
    except BaseException:
        await raw.close()
        raise
    return opened
