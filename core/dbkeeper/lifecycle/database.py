"""``VersionedDatabase``: an embedded database that creates and upgrades itself, asynchronously.

An application subclasses it, says which schema version its code needs and
implements two hooks: ``init_db`` (create the tables of a new database) and
``migrate_db`` (upgrade an older one). ``await Sub.create(...)`` then
connects, reads the stored version and brings the database to the code's
version before anything else runs; methods decorated with
``async_database_safe`` are the application's queries.

It keeps the names and usage of the ``DBManager`` class such applications
already have (it is exported under that name too) and fixes what that class
got wrong:

* an upgrade is all or nothing: it runs in one transaction, a hook that raises
  or returns a failure leaves status FAILED, the stored version unchanged and
  the database as it was (on SQLite a pre-upgrade snapshot is restored if the
  rollback could not undo everything);
* the lock belongs to the instance, so two databases never wait for each other;
* ``CancelledError`` and ``KeyboardInterrupt`` are never turned into fail values;
* waiting uses asyncio events, never sleep loops;
* one connection is opened at startup and reused by every call;
* nothing needs Python newer than 3.11.

Status transitions: STARTING -> RUNNING -> STOPPING -> STOPPED, or
STARTING -> FAILED. Override :meth:`VersionedDatabase.status_changed` to
observe them.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from dbkeeper.errors import ConfigurationError, DbKeeperError
from dbkeeper.lifecycle import decorators
from dbkeeper.lifecycle._log import Log, LoggerLike, default_logger
from dbkeeper.lifecycle._task_lock import TaskLock
from dbkeeper.lifecycle.connection import LifecycleConnection, open_lifecycle_connection
from dbkeeper.lifecycle.errors import (
    DatabaseClosedError,
    DatabaseFailedError,
    LifecycleError,
    OutsideOperationError,
    RestoreError,
    StartupError,
    UpgradeError,
    VersionTableError,
    VersionTooNewError,
)
from dbkeeper.lifecycle.status import DBStatus
from dbkeeper.lifecycle.version import Version
from dbkeeper.redaction import redact
from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from dbkeeper.lifecycle.decorators import OperationOptions

T = TypeVar("T")


class VersionedDatabase(abc.ABC):
    """Abstract async base class for an embedded, versioned database (exported also as ``DBManager``).

    Subclasses implement :meth:`init_db` and :meth:`migrate_db` and decorate
    their query methods with :meth:`async_database_safe`. See
    ``docs/lifecycle.md`` for a complete example.
    """

    # The decorators, reachable as ``DBManager.async_database_safe`` like in the old class.
    async_database_safe = staticmethod(decorators.async_database_safe)
    async_timed = staticmethod(decorators.async_timed)
    async_during_init = staticmethod(decorators.async_during_init)
    async_required_argument = staticmethod(decorators.async_required_argument)
    with_fail_value = staticmethod(decorators.with_fail_value)
    fail_with_exception = staticmethod(decorators.fail_with_exception)

    #: Table holding the stored schema version (one row: major, minor, patch).
    version_table: ClassVar[str] = "dbkeeper_version"
    #: Version table of databases created by the old ``DBManager``; adopted when found on SQLite.
    legacy_version_table: ClassVar[str] = "Version"

    def __init__(self, logger: LoggerLike | logging.Logger | None = None,
                 data_path: str | os.PathLike[str] | None = None, db_name: str = "database.db",
                 version: Version | None = None, *, url: str | DatabaseURL | None = None,
                 timeout: float | None = None) -> None:
        """Describe the database; nothing is opened until :meth:`ensure_ready` (or :meth:`create`).

        :param logger: a ``logging.Logger`` or any object with ``debug``/``info``/
            ``warning``/``error`` methods taking one message (such as the
            ``smdb_logger.Logger`` of the old ``DBManager``); defaults to
            ``logging.getLogger("dbkeeper.lifecycle.<ClassName>")``.
        :param data_path: directory of the SQLite file (created if missing).
        :param db_name: SQLite file name inside ``data_path``.
        :param version: schema version the code needs; defaults to :attr:`current_version`.
        :param url: a database URL instead of ``data_path``/``db_name``
            (``postgresql://user@host/db``, or ``sqlite:///path.db``).
        :param timeout: connect / busy timeout in seconds passed to the dialect.
        """
        self.logger: LoggerLike | logging.Logger = logger if logger is not None else default_logger(type(self))
        self._log = Log(self.logger)
        self.db_name = db_name
        self.data_path: str | None = os.fspath(data_path) if data_path is not None else None
        self._url = self._resolve_url(url)
        target = version if version is not None else self.current_version
        if not isinstance(target, Version):
            raise ConfigurationError(f"version must be a dbkeeper Version, got {target!r}")
        self.version: Version = target
        self._timeout = timeout
        self._status = DBStatus.STARTING
        self._lock = TaskLock()
        self._started = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0
        self._conn: LifecycleConnection | None = None
        self._startup_task: asyncio.Task[None] | None = None
        self._startup_error: BaseException | None = None
        self._hook_failures: list[BaseException] | None = None
        self._table = self.version_table

    def _resolve_url(self, url: str | DatabaseURL | None) -> DatabaseURL:
        if url is not None:
            if self.data_path is not None:
                raise ConfigurationError(
                    "give either data_path (a directory for the SQLite file) or url, not both"
                )
            return DatabaseURL.parse(url)
        if self.data_path is None:
            raise ConfigurationError(
                f"{type(self).__name__} needs data_path (the directory for its SQLite file) or url "
                "(for example postgresql://user@host/app)"
            )
        if not self.db_name or os.sep in self.db_name or (os.altsep and os.altsep in self.db_name):
            raise ConfigurationError(f"db_name must be a plain file name, got {self.db_name!r}")
        path = (Path(self.data_path).expanduser() / self.db_name).resolve()
        return DatabaseURL(scheme="sqlite", database=str(path))

    # -- what subclasses provide ----------------------------------------------------
    @property
    def current_version(self) -> Version:
        """The schema version this code needs when ``create()`` is given none; override it."""
        return Version(0, 0, 1)

    @abc.abstractmethod
    async def init_db(self) -> Any:
        """Create the tables and default rows of a new database.

        Runs inside the startup transaction, after the version table was
        created. Raising, or returning ``False`` or an exception object, fails
        the startup and leaves no trace of the new database. ``self.db`` is
        available whether or not the method is decorated.
        """

    @abc.abstractmethod
    async def migrate_db(self, current: Version, target: Version) -> bool:
        """Upgrade a database at ``current`` to ``target``; return ``True`` on success.

        Runs inside the upgrade transaction; the stored version is updated
        afterwards in the same transaction. Anything but ``True`` (``False``,
        ``None``, an exception object, a raised exception) undoes the upgrade
        and leaves the database FAILED at ``current``.
        """

    def status_changed(self, old: DBStatus, new: DBStatus) -> None:
        """Called on every status transition; the default logs it. Override to observe the lifecycle."""
        self._log.debug("%s status %s -> %s", type(self).__name__, old.name, new.name)

    # -- public state ---------------------------------------------------------------
    @property
    def status(self) -> DBStatus:
        """Where the database is in its life (see :class:`DBStatus`)."""
        return self._status

    @property
    def url(self) -> DatabaseURL:
        """The database URL (the password is never shown when printed)."""
        return self._url

    @property
    def db_path(self) -> str | None:
        """Path of the SQLite file, or ``None`` for server databases and ``:memory:``."""
        path = self._sqlite_file()
        return str(path) if path is not None else None

    @property
    def db(self) -> LifecycleConnection:
        """The open connection; only inside decorated methods and the startup hooks."""
        conn = self._conn
        if conn is None or not self._lock.held_by_current_task():
            raise OutsideOperationError(
                f"{type(self).__name__}.db is only available inside methods decorated with "
                f"@async_database_safe (and in init_db/migrate_db); status is {self._status.name}"
            )
        return conn

    def _sqlite_file(self) -> Path | None:
        if self._url.scheme != "sqlite" or self._url.is_memory or not self._url.database:
            return None
        return Path(self._url.database)

    def _set_status(self, new: DBStatus) -> None:
        old = self._status
        if old is new:
            return
        self._status = new
        try:
            self.status_changed(old, new)
        except Exception as exc:  # an observer must not break the lifecycle
            self._log.error("status_changed(%s, %s) raised", old.name, new.name, exc=exc)

    # -- construction and startup ------------------------------------------------------
    @classmethod
    async def create(cls, logger: LoggerLike | logging.Logger | None = None,
                     data_path: str | os.PathLike[str] | None = None, db_name: str = "database.db",
                     version: Version | None = None, *, url: str | DatabaseURL | None = None,
                     timeout: float | None = None) -> Self:
        """Build, start and return a RUNNING instance; startup failures are raised here.

        Cancelling the call cancels the startup, which undoes any upgrade in
        progress before the ``CancelledError`` propagates.
        """
        instance = cls(logger, data_path, db_name, version, url=url, timeout=timeout)
        try:
            await instance.ensure_ready()
        except asyncio.CancelledError:
            await instance._cancel_startup()
            raise
        return instance

    async def ensure_ready(self) -> None:
        """Start the database if needed, wait until STARTING ends, and raise the startup failure if any.

        Every call after a failed startup raises the same error again.
        """
        if self._status is DBStatus.STARTING:
            if self._lock.held_by_current_task():
                raise LifecycleError("ensure_ready() called from inside init_db/migrate_db would wait for itself")
            self._ensure_started()
            await self._started.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def __aenter__(self) -> Self:
        await self.ensure_ready()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _ensure_started(self) -> None:
        if self._startup_task is None and self._status is DBStatus.STARTING:
            self._startup_task = asyncio.get_running_loop().create_task(
                self._startup(), name=f"dbkeeper startup of {type(self).__name__}"
            )

    async def _cancel_startup(self) -> None:
        task = self._startup_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    async def _startup(self) -> None:
        await self._lock.acquire()
        try:
            await self._start()
        except BaseException as exc:
            await _uninterrupted(self._fail_startup(exc))
            if not isinstance(exc, Exception):
                raise
        else:
            self._set_status(DBStatus.RUNNING)
        finally:
            self._lock.release()
            self._started.set()

    async def _start(self) -> None:
        from dbkeeper.engine.plugins import get_registry

        dialect = get_registry().dialect_for_url(self._url)
        path = self._sqlite_file()
        created_directories: list[Path] = []
        new_file = False
        if path is not None:
            created_directories = _make_parents(path.parent)
            new_file = not path.exists()
        try:
            self._conn = await open_lifecycle_connection(dialect, self._url, self._log, self._timeout)
            await self._bring_to_version(new_file=new_file, created_directories=created_directories)
        except BaseException:
            if new_file and path is not None:  # leave no trace of a database that never got going
                await _uninterrupted(self._discard_new_database(path, created_directories))
            raise

    async def _bring_to_version(self, *, new_file: bool, created_directories: list[Path]) -> None:
        stored = await self._read_stored_version()
        target = self.version
        if stored is None:
            self._log.info("creating %s at version %s", self._describe(), target)
            await self._upgrade(None, target, new_file=new_file, created_directories=created_directories)
        elif stored > target:
            raise VersionTooNewError(
                f"{self._describe()} stores schema version {stored}, newer than the {target} this code "
                f"knows; run a release that supports {stored}, or restore a backup made for {target}",
                stored=stored, expected=target,
            )
        elif stored < target:
            self._log.info("upgrading %s from %s to %s", self._describe(), stored, target)
            await self._upgrade(stored, target, new_file=False, created_directories=[])
        await self._connection().lifecycle_end_operation("startup", failed=False)

    async def _discard_new_database(self, path: Path, created_directories: list[Path]) -> None:
        from dbkeeper.lifecycle import snapshot

        await self._close_connection()
        await asyncio.to_thread(snapshot.remove_database, path, created_directories)

    async def _read_stored_version(self) -> Version | None:
        conn = self._connection()
        if not await conn.lifecycle_table_exists(self.version_table):
            if await conn.lifecycle_legacy_version_table(self.legacy_version_table):
                self._table = self.legacy_version_table
                self._log.info("adopting the %r version table of the old DBManager", self._table)
            else:
                return None
        rows = await conn.execute_fetchall(f"SELECT major, minor, patch FROM {self._quoted_table()}")
        if len(rows) != 1:
            raise VersionTableError(
                f"version table {self._table!r} of {self._describe()} holds {len(rows)} rows; it must hold "
                "exactly one (major, minor, patch). Repair it or restore a backup"
            )
        try:
            return Version.from_db(rows[0])
        except LifecycleError as exc:
            raise VersionTableError(f"version table {self._table!r} of {self._describe()}: {exc}") from exc

    async def _upgrade(self, current: Version | None, target: Version, *, new_file: bool,
                       created_directories: list[Path]) -> None:
        """Run init_db or migrate_db in one transaction; undo everything if it fails."""
        from dbkeeper.lifecycle import snapshot

        conn = self._connection()
        path = self._sqlite_file()
        snapshot_file: Path | None = None
        hook = "init_db" if current is None else "migrate_db"
        await conn.lifecycle_begin_upgrade()
        try:
            if path is not None and not new_file:
                candidate = snapshot.snapshot_path_for(path)
                kept = await asyncio.to_thread(snapshot.set_aside_stale_snapshot, candidate)
                if kept is not None:
                    self._log.warning("an earlier upgrade left a snapshot behind; kept it as %s", kept)
                await asyncio.to_thread(snapshot.take_snapshot, path, candidate)
                snapshot_file = candidate
            self._hook_failures = []
            if current is None:
                await self._create_version_table(target)
                result: Any = await self.init_db()
                succeeded = result is not False and not isinstance(result, BaseException)
            else:
                result = await self.migrate_db(current, target)
                succeeded = result is True
            if self._hook_failures:
                first = self._hook_failures[0]
                raise UpgradeError(f"{hook} failed: a call inside it failed with {first!r}",
                                   current=current, target=target) from first
            if not succeeded:
                cause = result if isinstance(result, BaseException) else None
                raise UpgradeError(
                    f"{hook} returned {result!r}; it must "
                    + ("return True" if current is not None else "not return False or an exception")
                    + " to succeed", current=current, target=target,
                ) from cause
            broken = conn.lifecycle_upgrade_broken
            if broken is not None:
                raise UpgradeError(f"{hook} failed: {broken}", current=current, target=target)
            if current is not None:
                await self._write_version(target)
            await conn.lifecycle_commit_upgrade()
        except BaseException as exc:
            self._hook_failures = None
            error = await _uninterrupted(
                self._undo_upgrade(exc, hook=hook, current=current, target=target, snapshot_file=snapshot_file,
                                   new_file=new_file, created_directories=created_directories)
            )
            if error is not exc:
                raise error from (exc if error.__cause__ is None else error.__cause__)
            raise
        else:
            self._hook_failures = None
            if snapshot_file is not None:
                await asyncio.to_thread(snapshot.remove_snapshot, snapshot_file)
        self._log.info("%s is at version %s", self._describe(), target)

    async def _undo_upgrade(self, exc: BaseException, *, hook: str, current: Version | None, target: Version,
                            snapshot_file: Path | None, new_file: bool,
                            created_directories: list[Path]) -> BaseException:
        """Roll back, then make sure the SQLite file is exactly as before; return the error to raise."""
        from dbkeeper.lifecycle import snapshot

        conn = self._connection()
        rolled_back = await conn.lifecycle_abort_upgrade()
        await self._close_connection()
        path = self._sqlite_file()
        restored = False
        if path is not None and new_file:
            await asyncio.to_thread(snapshot.remove_database, path, created_directories)
        elif path is not None and snapshot_file is not None:
            same = rolled_back and (
                await asyncio.to_thread(snapshot.fingerprint, path)
                == await asyncio.to_thread(snapshot.fingerprint, snapshot_file)
            )
            if not same:
                try:
                    await asyncio.to_thread(snapshot.restore_snapshot, snapshot_file, path)
                    if (await asyncio.to_thread(snapshot.fingerprint, path)
                            != await asyncio.to_thread(snapshot.fingerprint, snapshot_file)):
                        raise LifecycleError("the restored file still differs from the snapshot")
                except Exception as restore_exc:
                    message = self._redact(
                        f"{hook} failed ({exc!r}) and the pre-upgrade snapshot could not be restored "
                        f"({restore_exc}); the snapshot is kept at {snapshot_file}: stop the application "
                        f"and copy it over {path}"
                    )
                    self._log.error("%s", message, exc=restore_exc)
                    return RestoreError(message, current=current, target=target)
                restored = True
                self._log.warning("%s: the rollback could not undo everything; restored the pre-upgrade "
                                  "snapshot", self._describe())
            await asyncio.to_thread(snapshot.remove_snapshot, snapshot_file)
        elif not rolled_back:
            self._log.error("%s: %s failed and its transaction could not be rolled back cleanly; the database "
                            "may be partially upgraded", self._describe(), hook)
        if isinstance(exc, UpgradeError):
            exc.restored = restored
            return exc
        if not isinstance(exc, Exception):
            return exc  # CancelledError, KeyboardInterrupt: propagate unchanged
        where = f"from {current} to {target}" if current is not None else f"at {target}"
        state = "was restored from its snapshot" if restored else "is unchanged"
        return _also_an_instance_of(exc, UpgradeError, self._redact(f"{hook} {where} failed: {exc!r}; the database "
                                                                    f"{state}"),
                                    current=current, target=target, restored=restored)

    async def _fail_startup(self, exc: BaseException) -> None:
        if isinstance(exc, DbKeeperError):
            error: BaseException = exc
        elif isinstance(exc, Exception):
            error = _also_an_instance_of(exc, StartupError,
                                         self._redact(f"{self._describe()} failed to start: {exc!r}"))
            error.__cause__ = exc
        else:
            error = StartupError(f"the startup of {self._describe()} was interrupted ({type(exc).__name__})")
            error.__cause__ = exc
        self._startup_error = error
        await self._close_connection()
        self._set_status(DBStatus.FAILED)
        if isinstance(exc, Exception):
            self._log.error("%s failed to start", self._describe(), exc=exc)

    async def _create_version_table(self, version: Version) -> None:
        conn = self._connection()
        self._table = self.version_table
        await conn.execute(
            f"CREATE TABLE {self._quoted_table()} (major INTEGER NOT NULL, minor INTEGER NOT NULL, "
            "patch INTEGER NOT NULL)"
        )
        await conn.execute(f"INSERT INTO {self._quoted_table()} (major, minor, patch) VALUES (?, ?, ?)",
                           version.to_db())

    async def _write_version(self, version: Version) -> None:
        await self._connection().execute(
            f"UPDATE {self._quoted_table()} SET major = ?, minor = ?, patch = ?", version.to_db()
        )

    def _quoted_table(self) -> str:
        return '"' + self._table.replace('"', '""') + '"'

    def _connection(self) -> LifecycleConnection:
        conn = self._conn
        if conn is None:
            raise DatabaseClosedError(f"{self._describe()} has no open connection (status {self._status.name})")
        return conn

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:
                self._log.error("closing the connection to %s failed", self._describe(), exc=exc)

    def _redact(self, text: str) -> str:
        """Mask the URL's password wherever a driver put it into ``text``."""
        return redact(text, [self._url.password])

    def _describe(self) -> str:
        path = self._sqlite_file()
        return f"database {path}" if path is not None else f"database {self._url}"

    # -- operations (what async_database_safe runs) ----------------------------------------
    async def _run_operation(self, func: Callable[..., Awaitable[T]], options: OperationOptions,
                             name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        lock = self._lock
        if lock.held_by_current_task():  # called from inside an operation or the startup
            return await self._invoke(func, options, name, args, kwargs, outermost=False)
        if self._status is not DBStatus.RUNNING:
            if self._status is DBStatus.STARTING:
                self._ensure_started()
                await self._started.wait()
            self._check_usable(name, admitted=False)
        self._in_flight += 1
        self._idle.clear()
        try:
            await lock.acquire()
            try:
                self._check_usable(name, admitted=True)
                return await self._invoke(func, options, name, args, kwargs, outermost=True)
            finally:
                lock.release()
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def _check_usable(self, name: str, *, admitted: bool) -> None:
        """Raise unless a call may run: RUNNING, or STOPPING for calls admitted before close()."""
        status = self._status
        if status is DBStatus.RUNNING or (admitted and status is DBStatus.STOPPING and self._conn is not None):
            return
        if status is DBStatus.FAILED:
            raise DatabaseFailedError(
                f"{name} called on {self._describe()}, whose startup failed: {self._startup_error}"
            ) from self._startup_error
        raise DatabaseClosedError(
            f"{name} called after close() (status {status.name}); create a new instance to use "
            f"{self._describe()} again"
        )

    async def _invoke(self, func: Callable[..., Awaitable[T]], options: OperationOptions, name: str,
                      args: tuple[Any, ...], kwargs: dict[str, Any], *, outermost: bool) -> T:
        try:
            result = await func(self, *args, **kwargs)
        except Exception as exc:
            if outermost:
                await self._end_operation(name, failed=True)
            elif self._hook_failures is not None:
                self._hook_failures.append(exc)
            self._log.error("%s failed", name, exc=exc)
            if options.fail_with_exception:
                raise
            failed: T = options.failure_result()
            return failed
        except BaseException:
            if outermost:
                await _uninterrupted(self._end_operation(name, failed=True))
            raise
        if outermost:
            await self._end_operation(name, failed=False)
        return result

    async def _end_operation(self, name: str, *, failed: bool) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.lifecycle_end_operation(name, failed=failed)
        except Exception as exc:
            self._log.error("cleaning up after %s failed", name, exc=exc)

    # -- the version and shutting down --------------------------------------------------------
    @decorators.async_database_safe
    @decorators.with_fail_value(None)
    async def get_version(self) -> Version | None:
        """The stored schema version (``None`` if it cannot be read)."""
        rows = await self.db.execute_fetchall(f"SELECT major, minor, patch FROM {self._quoted_table()}")
        return Version.from_db(rows[0]) if rows else None

    @decorators.async_database_safe
    @decorators.async_during_init
    async def update_version(self, version: Version) -> bool:
        """Store ``version`` as the schema version; ``True`` on success, ``False`` on failure."""
        if not isinstance(version, Version):
            raise TypeError(f"update_version() needs a Version, got {version!r}")
        await self._write_version(version)
        await self.db.commit()
        return True

    async def close(self) -> None:
        """Stop accepting calls, wait for running ones, close the connection, end STOPPED.

        Calls already admitted (running or waiting for the lock) finish first;
        calls made after ``close()`` started raise
        :class:`~dbkeeper.lifecycle.errors.DatabaseClosedError`. Closing a
        closed database does nothing; closing a FAILED one keeps it FAILED.
        """
        if self._lock.held_by_current_task():
            raise LifecycleError("close() called from inside a decorated method would wait for itself; "
                                 "call it after the method returns")
        if self._status is DBStatus.STARTING:
            if self._startup_task is None:
                self._set_status(DBStatus.STOPPED)
                return
            await self._started.wait()
        if self._status is DBStatus.FAILED:
            await self._close_connection()
            return
        if self._status is DBStatus.STOPPED:
            self._log.debug("close() called on %s, which is already closed", self._describe())
            return
        self._set_status(DBStatus.STOPPING)
        await self._idle.wait()
        await self._lock.acquire()
        try:
            await self._close_connection()
            self._set_status(DBStatus.STOPPED)
        finally:
            self._lock.release()


#: The name applications already use.
DBManager = VersionedDatabase


def _also_an_instance_of(original: BaseException, kind: type[StartupError], message: str,
                         **fields: Any) -> StartupError:
    """A ``kind`` error that is also an instance of ``original``'s class, when Python allows that class as a base.

    ``ensure_ready()`` re-raises the exception the startup failed with, as
    the ``DBManager`` documents: code that catches what ``init_db`` raised
    (``except RuntimeError``) keeps catching it, while dbkeeper's error
    (what was undone, versions) stays what is raised. Classes that cannot
    be combined (other instance layouts, constructors needing other
    arguments) give a plain ``kind``, with the original as ``__cause__``.
    """
    base = type(original)
    if isinstance(original, DbKeeperError) or not isinstance(original, Exception):
        return kind(message, **fields)
    try:
        combined = _combined_class(kind, base)
        return combined(message, **fields)
    except TypeError:
        return kind(message, **fields)


_COMBINED: dict[tuple[type[BaseException], type[BaseException]], type[Any]] = {}


def _combined_class(kind: type[StartupError], base: type[BaseException]) -> type[StartupError]:
    key = (kind, base)
    combined = _COMBINED.get(key)
    if combined is None:
        combined = _COMBINED[key] = type(kind.__name__, (kind, base), {"__module__": kind.__module__,
                                                                      "__qualname__": kind.__qualname__})
    return combined


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones created, outermost first."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


async def _uninterrupted(coro: Coroutine[Any, Any, T]) -> T:
    """Run cleanup to the end even if the surrounding task is cancelled again meanwhile.

    A second cancellation is delivered after the cleanup finished, so an undo
    of a half-applied upgrade can never itself be left half done.
    """
    task = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                result = task.result()
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result
