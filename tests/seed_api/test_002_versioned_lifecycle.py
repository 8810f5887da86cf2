"""The async, versioned SQLite ``DBManager`` (seeds/002): every row of its method table, every decorator.

Written as its Quick Start says: subclass ``DBManager``, override ``init_db``
and ``migrate_db``, build with ``await DBManager.create(...)`` (or construct
and ``await ensure_ready()``), decorate queries with ``async_database_safe``
on top. The document is about SQLite files (``data_path`` + ``db_name``), so
these tests use SQLite only.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dbkeeper import (
    DBManager,
    DBStatus,
    Version,
    async_database_safe,
    async_during_init,
    async_required_argument,
    async_timed,
    fail_with_exception,
    with_fail_value,
)

T = TypeVar("T")
log = logging.getLogger("seed002")


def run(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class Notes(DBManager):
    """An application database as the Quick Start describes it."""

    migrations: list[tuple[Version, Version]]

    async def init_db(self) -> None:
        self.migrations = []
        await self.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        await self.add_default()

    async def migrate_db(self, current: Version, target: Version) -> bool:
        self.migrations = [(current, target)]
        await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
        return True

    @DBManager.async_database_safe
    @DBManager.async_during_init
    async def add_default(self) -> None:
        await self.db.execute("INSERT INTO notes (body) VALUES ('welcome')")

    @async_database_safe
    @async_timed
    @with_fail_value([])
    async def bodies(self) -> list[str]:
        rows = await self.db.execute_fetchall("SELECT body FROM notes ORDER BY id")
        return [row[0] for row in rows]

    @async_database_safe
    @with_fail_value(-1)
    async def broken(self) -> int:
        await self.db.execute("SELECT * FROM no_such_table")
        return 0

    @async_database_safe
    @fail_with_exception
    async def broken_loudly(self) -> int:
        await self.db.execute("SELECT * FROM no_such_table")
        return 0

    @async_database_safe
    @fail_with_exception
    @async_required_argument(["note_id", "body"])
    async def find(self, note_id: int | None = None, body: str | None = None) -> list[Any]:
        if note_id is not None:
            return list(await self.db.execute_fetchall("SELECT body FROM notes WHERE id = ?", (note_id,)))
        return list(await self.db.execute_fetchall("SELECT id FROM notes WHERE body = ?", (body,)))

    @async_database_safe
    @async_required_argument(["note_id", "body"])
    async def find_quietly(self, note_id: int | None = None, body: str | None = None) -> list[Any]:
        return []


def test_create_signature_and_defaults_as_documented() -> None:
    parameters = inspect.signature(DBManager.create).parameters
    assert list(parameters)[:4] == ["logger", "data_path", "db_name", "version"]
    assert parameters["db_name"].default == "database.db"
    method_table = ["create", "ensure_ready", "update_version", "get_version", "close", "migrate_db", "init_db",
                    "async_database_safe", "async_timed", "async_during_init", "async_required_argument",
                    "with_fail_value", "fail_with_exception"]
    assert all(callable(getattr(DBManager, name)) for name in method_table)
    assert inspect.iscoroutinefunction(DBManager.init_db) and inspect.iscoroutinefunction(DBManager.migrate_db)
    assert DBManager.__abstractmethods__ >= {"init_db", "migrate_db"}


@run
async def test_create_with_only_logger_and_data_path(tmp_path: Path) -> None:
    db = await Notes.create(log, str(tmp_path / "data"))
    assert db.status is DBStatus.RUNNING and isinstance(db, Notes)
    assert (tmp_path / "data" / "database.db").is_file()  # db_name="database.db"
    assert await db.get_version() == Version(0, 0, 1)  # version=Version(0, 0, 1)
    assert await db.bodies() == ["welcome"]
    assert await db.update_version(Version(0, 0, 2)) is True
    assert await db.get_version() == Version(0, 0, 2)
    await db.close()
    assert db.status is DBStatus.STOPPED


@run
async def test_create_with_every_argument_then_migrate(tmp_path: Path) -> None:
    first = await Notes.create(log, str(tmp_path), "notes.db", Version(1, 0, 0))
    await first.close()
    second = await Notes.create(logger=log, data_path=str(tmp_path), db_name="notes.db", version=Version(1, 1, 0))
    assert second.migrations == [(Version(1, 0, 0), Version(1, 1, 0))]
    assert await second.get_version() == Version(1, 1, 0)
    await second.close()
    columns = [r[1] for r in sqlite3.connect(tmp_path / "notes.db").execute("PRAGMA table_info(notes)")]
    assert columns == ["id", "body", "tag"]


@run
async def test_ensure_ready_for_another_initialisation_flow(tmp_path: Path) -> None:
    db = Notes(log, str(tmp_path))
    assert db.status is DBStatus.STARTING
    await db.ensure_ready()
    assert db.status is DBStatus.RUNNING
    await db.ensure_ready()  # idempotent once running
    await db.close()


class Exploding(Notes):
    async def init_db(self) -> None:
        raise RuntimeError("no tables today")


class Refusing(Notes):
    async def migrate_db(self, current: Version, target: Version) -> bool:
        return False


@run
async def test_ensure_ready_reraises_the_startup_exception(tmp_path: Path) -> None:
    db = Exploding(log, str(tmp_path))
    for _ in range(2):  # every later call raises it again
        with pytest.raises(RuntimeError) as caught:
            await db.ensure_ready()
        assert "no tables today" in str(caught.value)
    assert db.status is DBStatus.FAILED
    with pytest.raises(RuntimeError, match="no tables today"):
        await Exploding.create(log, str(tmp_path / "other"))
    assert not (tmp_path / "database.db").exists()  # a failed first start leaves no file behind


@run
async def test_a_failed_migration_fails_the_startup_and_keeps_the_version(tmp_path: Path) -> None:
    await (await Notes.create(log, str(tmp_path), version=Version(1, 0, 0))).close()
    db = Refusing(log, str(tmp_path), version=Version(2, 0, 0))
    with pytest.raises(Exception, match="migrate_db returned False"):
        await db.ensure_ready()
    assert db.status is DBStatus.FAILED
    reopened = await Notes.create(log, str(tmp_path), version=Version(1, 0, 0))
    assert await reopened.get_version() == Version(1, 0, 0)
    await reopened.close()


@run
async def test_a_stored_version_newer_than_the_code_is_a_value_error(tmp_path: Path) -> None:
    await (await Notes.create(log, str(tmp_path), version=Version(3, 0, 0))).close()
    with pytest.raises(ValueError, match=r"3\.0\.0"):
        await Notes.create(log, str(tmp_path), version=Version(2, 0, 0))


@run
async def test_decorators_as_documented(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = await Notes.create(log, str(tmp_path))
    assert await db.broken() == -1  # with_fail_value
    with pytest.raises(sqlite3.OperationalError):  # fail_with_exception
        await db.broken_loudly()
    assert await db.find(note_id=1) == [("welcome",)]
    assert await db.find(body="welcome") == [(1,)]
    with pytest.raises(KeyError):  # async_required_argument: neither argument given
        await db.find()
    assert await db.find_quietly() is False  # ... and without fail_with_exception: the default fail value
    assert any("bodies" in r.getMessage() and " ms" in r.getMessage() for r in caplog.records) is False
    await db.bodies()
    assert any("bodies" in r.getMessage() and " ms" in r.getMessage() for r in caplog.records)  # async_timed
    await db.close()
    from dbkeeper.lifecycle.errors import DatabaseClosedError

    with pytest.raises(DatabaseClosedError):
        await db.bodies()
    assert async_during_init is DBManager.async_during_init


def test_dbstatus_values() -> None:
    assert [s.name for s in DBStatus] == ["STARTING", "RUNNING", "STOPPING", "STOPPED", "FAILED"]


def test_version_semantics() -> None:
    assert Version(0, 0, 1) < Version(0, 1, 0) < Version(1, 0, 0)
    assert Version(1, 2, 3) == Version(1, 2, 3) and len({Version(1, 2, 3), Version(1, 2, 3)}) == 1
    assert str(Version(1, 2, 3)) == "1.2.3" and Version.parse("1.2.3") == Version(1, 2, 3)
    assert Version.from_db((1, 2, 3)) == Version(1, 2, 3)
    assert Version.from_db({"major": 1, "minor": 2, "patch": 3}) == Version(1, 2, 3)
    with pytest.raises(ValueError, match="not a version"):
        Version.parse("1.2")
    with pytest.raises(ValueError, match="non-negative integer"):
        Version(-1, 0, 0)
