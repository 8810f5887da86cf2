"""The versioned lifecycle on real SQLite files: startup, upgrades, failures, locking, closing.

Each test in the "regressions" sections pins down one defect of the old
``DBManager`` that ``VersionedDatabase`` fixes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dbkeeper.errors import ClosedError, ConfigurationError
from dbkeeper.lifecycle import (
    DatabaseClosedError,
    DatabaseFailedError,
    DBManager,
    DBStatus,
    OutsideOperationError,
    StartupError,
    UpgradeError,
    Version,
    VersionedDatabase,
    VersionTableError,
    VersionTooNewError,
    async_database_safe,
    async_during_init,
    async_timed,
    fail_with_exception,
    with_fail_value,
)

T = TypeVar("T")
V1 = Version(1, 0, 0)
V2 = Version(1, 1, 0)


def async_test(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async test function with ``asyncio.run`` (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def dump(path: Path) -> list[str]:
    """The database's schema and data as SQL, to compare "exactly as before"."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def stored_version(path: Path, table: str = "dbkeeper_version") -> Version:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f'SELECT major, minor, patch FROM "{table}"').fetchall()
    finally:
        conn.close()
    assert len(rows) == 1
    return Version.from_db(rows[0])


class Notes(VersionedDatabase):
    """1.0.0: ``notes(id, text)``. 1.1.0 adds ``notes.tag`` and a ``tags`` table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transitions: list[tuple[DBStatus, DBStatus]] = []
        self.migrations: list[tuple[Version, Version]] = []

    def status_changed(self, old: DBStatus, new: DBStatus) -> None:
        self.transitions.append((old, new))

    async def init_db(self) -> None:
        await self.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        await self.db.execute("INSERT INTO notes (text) VALUES (?)", ("welcome",))
        await self.db.commit()
        if self.version >= V2:
            await self.add_tags()

    async def add_tags(self) -> None:
        await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
        await self.db.execute("CREATE TABLE tags (name TEXT PRIMARY KEY)")
        await self.db.execute("INSERT INTO tags (name) VALUES ('inbox')")

    @async_database_safe
    @async_during_init
    @async_timed
    @fail_with_exception
    async def migrate_db(self, current: Version, target: Version) -> bool:
        self.migrations.append((current, target))
        await self.add_tags()
        await self.db.commit()
        return True

    @async_database_safe
    @fail_with_exception
    async def add(self, text: str) -> int:
        cursor = await self.db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
        await self.db.commit()
        return int(cursor.lastrowid)

    @async_database_safe
    @with_fail_value([])
    async def texts(self) -> list[str]:
        rows = await self.db.execute_fetchall("SELECT text FROM notes ORDER BY id")
        return [row[0] for row in rows]

    @async_database_safe
    async def hold(self, entered: asyncio.Event, release: asyncio.Event) -> bool:
        entered.set()
        await release.wait()
        return True

    @async_database_safe
    async def connection_id(self) -> int:
        return id(self.db.raw)


async def make_v1(tmp_path: Path, notes: tuple[str, ...] = ("first",)) -> Path:
    db = await Notes.create(data_path=tmp_path, version=V1)
    for text in notes:
        await db.add(text)
    await db.close()
    return tmp_path / "database.db"


# -- the lifecycle ----------------------------------------------------------------------------

@async_test
async def test_create_initialises_a_new_database_and_stores_the_code_version(tmp_path: Path) -> None:
    db = await Notes.create(data_path=tmp_path / "data", version=V1)
    assert db.status is DBStatus.RUNNING
    assert await db.get_version() == V1
    assert await db.texts() == ["welcome"]
    assert db.db_path == str((tmp_path / "data" / "database.db").resolve())
    await db.close()
    assert stored_version(tmp_path / "data" / "database.db") == V1


@async_test
async def test_create_upgrades_an_older_database_and_keeps_its_data(tmp_path: Path) -> None:
    path = await make_v1(tmp_path)
    db = await Notes.create(data_path=tmp_path, version=V2)
    assert db.migrations == [(V1, V2)]
    assert await db.get_version() == V2
    assert await db.texts() == ["welcome", "first"]
    await db.close()
    assert stored_version(path) == V2
    assert not (tmp_path / "database.db.pre-upgrade").exists()


@async_test
async def test_a_database_at_the_code_version_is_left_alone(tmp_path: Path) -> None:
    path = await make_v1(tmp_path)
    before = dump(path)
    db = await Notes.create(data_path=tmp_path, version=V1)
    assert db.migrations == []
    await db.close()
    assert dump(path) == before


@async_test
async def test_status_moves_from_starting_to_running_to_stopping_to_stopped(tmp_path: Path) -> None:
    db = Notes(data_path=tmp_path, version=V1)
    assert db.status is DBStatus.STARTING
    await db.ensure_ready()
    await db.close()
    assert db.transitions == [
        (DBStatus.STARTING, DBStatus.RUNNING),
        (DBStatus.RUNNING, DBStatus.STOPPING),
        (DBStatus.STOPPING, DBStatus.STOPPED),
    ]


@async_test
async def test_version_defaults_to_the_current_version_property(tmp_path: Path) -> None:
    class Pinned(Notes):
        @property
        def current_version(self) -> Version:
            return V2

    db = await Pinned.create(data_path=tmp_path)
    assert await db.get_version() == V2
    await db.close()


@async_test
async def test_a_sqlite_url_works_like_data_path(tmp_path: Path) -> None:
    async with await Notes.create(url=f"sqlite:///{tmp_path}/via-url.db", version=V1) as db:
        assert await db.texts() == ["welcome"]
    assert stored_version(tmp_path / "via-url.db") == V1


def test_either_data_path_or_url_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="data_path"):
        Notes(version=V1)
    with pytest.raises(ConfigurationError, match="not both"):
        Notes(data_path=tmp_path, url="sqlite:///x.db", version=V1)


@async_test
async def test_decorated_calls_made_before_startup_start_it_and_wait_for_it(tmp_path: Path) -> None:
    db = Notes(data_path=tmp_path, version=V1)
    assert await db.texts() == ["welcome"]
    assert db.status is DBStatus.RUNNING
    await db.close()


@async_test
async def test_the_old_dbmanager_version_table_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "database.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE "Version" (major INTEGER NOT NULL, minor INTEGER NOT NULL, patch INTEGER NOT NULL,
                                PRIMARY KEY (major, minor, patch)) STRICT;
        INSERT INTO "Version" VALUES (1, 0, 0);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
        INSERT INTO notes (text) VALUES ('from the old app');
    """)
    conn.close()
    assert DBManager is VersionedDatabase
    db = await Notes.create(data_path=tmp_path, version=V2)
    assert db.migrations == [(V1, V2)]
    assert await db.get_version() == V2
    assert await db.texts() == ["from the old app"]
    await db.close()
    assert stored_version(path, "Version") == V2


# -- regression: a failed upgrade leaves FAILED, the version unchanged, the database as before ------

class RaisingUpgrade(Notes):
    @async_database_safe
    @async_during_init
    @fail_with_exception
    async def migrate_db(self, current: Version, target: Version) -> bool:
        await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
        await self.db.execute("UPDATE notes SET text = 'changed'")
        await self.db.commit()
        raise RuntimeError("boom in migrate_db")


class FalseUpgrade(Notes):
    async def migrate_db(self, current: Version, target: Version) -> bool:
        await self.add_tags()
        await self.db.commit()
        return False


class ExceptionObjectUpgrade(Notes):
    async def migrate_db(self, current: Version, target: Version) -> Any:
        """What the old ``fail_with_exception`` did: hand the exception back as the return value."""
        await self.add_tags()
        return RuntimeError("returned, not raised")


class SwallowedFailureUpgrade(Notes):
    """The old decorator stack without fail_with_exception: the exception became a truthy fail value."""

    @async_database_safe
    @async_during_init
    @with_fail_value(["not", "a", "success"])
    async def migrate_db(self, current: Version, target: Version) -> Any:
        await self.add_tags()
        raise RuntimeError("swallowed by the decorator")


class InnerFailureUpgrade(Notes):
    @async_database_safe
    @with_fail_value(None)
    async def risky(self) -> None:
        await self.db.execute("INSERT INTO no_such_table VALUES (1)")

    async def migrate_db(self, current: Version, target: Version) -> bool:
        await self.add_tags()
        await self.risky()  # fails, returns None; the upgrade must not pretend it worked
        return True


@pytest.mark.parametrize("broken", [RaisingUpgrade, FalseUpgrade, ExceptionObjectUpgrade,
                                    SwallowedFailureUpgrade, InnerFailureUpgrade])
@async_test
async def test_a_failed_migrate_db_ends_failed_with_version_schema_and_data_unchanged(
        tmp_path: Path, broken: type[Notes]) -> None:
    path = await make_v1(tmp_path)
    before = dump(path)
    db = broken(data_path=tmp_path, version=V2)
    with pytest.raises(UpgradeError) as caught:
        await db.ensure_ready()
    assert db.status is DBStatus.FAILED
    assert caught.value.current == V1 and caught.value.target == V2
    assert caught.value.restored is False  # the transaction alone undid it
    assert dump(path) == before
    assert stored_version(path) == V1
    assert not (tmp_path / "database.db.pre-upgrade").exists()


@async_test
async def test_returning_an_exception_object_is_reported_as_a_failure(tmp_path: Path) -> None:
    await make_v1(tmp_path)
    with pytest.raises(UpgradeError, match="returned RuntimeError") as caught:
        await ExceptionObjectUpgrade.create(data_path=tmp_path, version=V2)
    assert isinstance(caught.value.__cause__, RuntimeError)


@async_test
async def test_changes_committed_behind_the_lifecycles_back_are_undone_from_the_snapshot(tmp_path: Path) -> None:
    class LeakingUpgrade(Notes):
        async def migrate_db(self, current: Version, target: Version) -> bool:
            # sqlite3's executescript commits the open transaction first: the rollback cannot undo this
            await self.db.raw.executescript("ALTER TABLE notes ADD COLUMN tag TEXT; UPDATE notes SET text = 'x';")
            raise RuntimeError("failed after a commit the lifecycle could not stop")

    path = await make_v1(tmp_path)
    before = dump(path)
    with pytest.raises(UpgradeError) as caught:
        await LeakingUpgrade.create(data_path=tmp_path, version=V2)
    assert caught.value.restored is True
    assert dump(path) == before
    assert stored_version(path) == V1
    assert not (tmp_path / "database.db.pre-upgrade").exists()
    db = await Notes.create(data_path=tmp_path, version=V2)  # the restored file upgrades normally
    assert await db.texts() == ["welcome", "first"]
    await db.close()


@async_test
async def test_commits_and_transaction_statements_inside_migrate_db_do_not_end_the_upgrade(tmp_path: Path) -> None:
    class CommittingUpgrade(Notes):
        async def migrate_db(self, current: Version, target: Version) -> bool:
            await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
            await self.db.commit()
            await self.db.execute("COMMIT")
            await self.db.execute("BEGIN")
            await self.db.executescript("CREATE TABLE tags (name TEXT); COMMIT; INSERT INTO tags VALUES ('a');")
            raise RuntimeError("late failure")

    path = await make_v1(tmp_path)
    before = dump(path)
    with pytest.raises(UpgradeError) as caught:
        await CommittingUpgrade.create(data_path=tmp_path, version=V2)
    assert caught.value.restored is False
    assert dump(path) == before


@async_test
async def test_a_rollback_inside_migrate_db_fails_the_upgrade(tmp_path: Path) -> None:
    class RollingBack(Notes):
        async def migrate_db(self, current: Version, target: Version) -> bool:
            await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
            await self.db.rollback()
            await self.db.execute("CREATE TABLE tags (name TEXT)")
            return True

    path = await make_v1(tmp_path)
    before = dump(path)
    with pytest.raises(UpgradeError, match="rollback"):
        await RollingBack.create(data_path=tmp_path, version=V2)
    assert dump(path) == before


@async_test
async def test_a_failed_init_db_leaves_no_database_behind(tmp_path: Path) -> None:
    class BrokenInit(Notes):
        async def init_db(self) -> None:
            await self.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
            raise RuntimeError("boom in init_db")

    data = tmp_path / "new" / "nested"
    db = BrokenInit(data_path=data, version=V1)
    with pytest.raises(UpgradeError, match="boom in init_db"):
        await db.ensure_ready()
    assert db.status is DBStatus.FAILED
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("result", [False, RuntimeError("returned")])
@async_test
async def test_an_init_db_returning_false_or_an_exception_object_fails(tmp_path: Path, result: object) -> None:
    class BadInit(Notes):
        async def init_db(self) -> Any:
            await super().init_db()
            return result

    with pytest.raises(UpgradeError, match="init_db returned"):
        await BadInit.create(data_path=tmp_path, version=V1)
    assert list(tmp_path.iterdir()) == []


@async_test
async def test_a_stored_version_newer_than_the_code_is_a_clear_error(tmp_path: Path) -> None:
    path = await make_v1(tmp_path)
    before = dump(path)
    db = Notes(data_path=tmp_path, version=Version(0, 9, 0))
    with pytest.raises(VersionTooNewError, match=r"stores schema version 1\.0\.0, newer than the 0\.9\.0") as caught:
        await db.ensure_ready()
    assert caught.value.stored == V1 and caught.value.expected == Version(0, 9, 0)
    assert db.status is DBStatus.FAILED
    assert dump(path) == before


@async_test
async def test_a_version_table_without_exactly_one_row_is_a_clear_error(tmp_path: Path) -> None:
    path = await make_v1(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO dbkeeper_version VALUES (2, 0, 0)")
    conn.commit()
    conn.close()
    with pytest.raises(VersionTableError, match="holds 2 rows"):
        await Notes.create(data_path=tmp_path, version=V2)


@async_test
async def test_ensure_ready_re_raises_the_startup_failure_every_time(tmp_path: Path) -> None:
    await make_v1(tmp_path)
    db = RaisingUpgrade(data_path=tmp_path, version=V2)
    for _ in range(2):
        with pytest.raises(UpgradeError, match="boom in migrate_db"):
            await db.ensure_ready()
    with pytest.raises(DatabaseFailedError, match="startup failed") as caught:
        await db.texts()
    assert isinstance(caught.value.__cause__, UpgradeError)
    await db.close()
    assert db.status is DBStatus.FAILED


@async_test
async def test_a_snapshot_left_by_an_interrupted_upgrade_is_kept_not_overwritten(tmp_path: Path) -> None:
    await make_v1(tmp_path)
    stale = tmp_path / "database.db.pre-upgrade"
    stale.write_bytes(b"an earlier snapshot")
    db = await Notes.create(data_path=tmp_path, version=V2)
    await db.close()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("database.db.pre-upgrade.")]
    assert len(kept) == 1 and kept[0].read_bytes() == b"an earlier snapshot"
    assert not stale.exists()


# -- regression: the lock is per instance --------------------------------------------------------

@async_test
async def test_two_instances_run_operations_at_the_same_time(tmp_path: Path) -> None:
    a = await Notes.create(data_path=tmp_path / "a", version=V1)
    b = await Notes.create(data_path=tmp_path / "b", version=V1)
    entered, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(a.hold(entered, release))
    await entered.wait()
    assert await asyncio.wait_for(b.texts(), timeout=10) == ["welcome"]  # not blocked by a's lock
    release.set()
    assert await holding is True
    await a.close()
    await b.close()


@async_test
async def test_one_instance_runs_its_operations_one_at_a_time(tmp_path: Path) -> None:
    db = await Notes.create(data_path=tmp_path, version=V1)
    entered, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(db.hold(entered, release))
    await entered.wait()
    waiting = asyncio.create_task(db.texts())
    done, _ = await asyncio.wait([waiting], timeout=0.2)
    assert not done
    release.set()
    assert await waiting == ["welcome"]
    await holding
    await db.close()


@async_test
async def test_decorated_methods_can_call_each_other(tmp_path: Path) -> None:
    class Nested(Notes):
        @async_database_safe
        async def add_and_count(self, text: str) -> int:
            await self.add(text)
            return len(await self.texts())

    db = await Nested.create(data_path=tmp_path, version=V1)
    assert await asyncio.wait_for(db.add_and_count("x"), timeout=10) == 2
    await db.close()


# -- regression: CancelledError and KeyboardInterrupt propagate ---------------------------------

class Interrupted(Notes):
    @async_database_safe
    @with_fail_value("fail value")
    async def insert_then_wait(self, entered: asyncio.Event, release: asyncio.Event) -> str:
        await self.db.execute("INSERT INTO notes (text) VALUES ('uncommitted')")
        entered.set()
        await release.wait()
        await self.db.commit()
        return "done"

    @async_database_safe
    @with_fail_value("fail value")
    async def raise_base(self, exc: BaseException) -> str:
        await self.db.execute("INSERT INTO notes (text) VALUES ('uncommitted')")
        raise exc


@async_test
async def test_cancelling_an_operation_propagates_and_rolls_back_its_writes(tmp_path: Path) -> None:
    db = await Interrupted.create(data_path=tmp_path, version=V1)
    entered, release = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(db.insert_then_wait(entered, release))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.status is DBStatus.RUNNING
    assert await db.texts() == ["welcome"]
    await db.close()


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(3)])
@async_test
async def test_base_exceptions_are_never_turned_into_the_fail_value(tmp_path: Path, exc: BaseException) -> None:
    db = await Interrupted.create(data_path=tmp_path, version=V1)
    with pytest.raises(type(exc)):
        await db.raise_base(exc)
    assert await db.texts() == ["welcome"]  # rolled back, lock released, still usable
    await db.close()


@async_test
async def test_cancelling_create_during_an_upgrade_undoes_it(tmp_path: Path) -> None:
    started = asyncio.Event()
    seen: list[Notes] = []

    class SlowUpgrade(Notes):
        async def migrate_db(self, current: Version, target: Version) -> bool:
            seen.append(self)
            await self.add_tags()
            started.set()
            await asyncio.Event().wait()  # never finishes
            return True

    path = await make_v1(tmp_path)
    before = dump(path)
    creating = asyncio.create_task(SlowUpgrade.create(data_path=tmp_path, version=V2))
    await started.wait()
    creating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await creating
    assert seen[0].status is DBStatus.FAILED
    with pytest.raises(StartupError, match="interrupted"):
        await seen[0].ensure_ready()
    assert dump(path) == before


# -- regression: close waits for running operations; later calls fail fast ---------------------------

@async_test
async def test_close_waits_for_running_operations_and_later_calls_fail_fast(tmp_path: Path) -> None:
    db = await Notes.create(data_path=tmp_path, version=V1)
    entered, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(db.hold(entered, release))
    await entered.wait()
    queued = asyncio.create_task(db.texts())  # admitted before close(): it still runs
    await asyncio.wait([queued], timeout=0.05)
    closing = asyncio.create_task(db.close())
    await asyncio.wait([closing], timeout=0.05)
    assert db.status is DBStatus.STOPPING
    assert not closing.done()
    with pytest.raises(DatabaseClosedError, match="after close"):
        await db.texts()  # new calls fail at once, without waiting
    release.set()
    assert await holding is True
    assert await queued == ["welcome"]
    await closing
    assert db.status is DBStatus.STOPPED
    with pytest.raises(ClosedError):
        await db.get_version()
    await db.close()  # closing again is harmless
    assert db.status is DBStatus.STOPPED


@async_test
async def test_closing_a_database_that_never_started_opens_nothing(tmp_path: Path) -> None:
    db = Notes(data_path=tmp_path / "never", version=V1)
    await db.close()
    assert db.status is DBStatus.STOPPED
    assert not (tmp_path / "never").exists()


def test_an_unclosed_database_does_not_keep_the_interpreter_alive(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio
        from dbkeeper.lifecycle import VersionedDatabase, Version

        class Db(VersionedDatabase):
            async def init_db(self): pass
            async def migrate_db(self, current, target): return True

        KEEP = []

        async def main():
            KEEP.append(await Db.create(data_path={str(tmp_path)!r}, version=Version(1, 0, 0)))

        asyncio.run(main())
        print("exiting")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "exiting" in result.stdout


# -- regression: no sleep loops; the connection is kept and reused ----------------------------------

@async_test
async def test_waiting_uses_events_never_sleep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the lifecycle must wait on events, not poll with asyncio.sleep")

    await make_v1(tmp_path)
    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    db = Notes(data_path=tmp_path, version=V2)
    early = asyncio.create_task(db.texts())  # waits for the startup
    await db.ensure_ready()
    assert await early == ["welcome", "first"]
    entered, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(db.hold(entered, release))
    await entered.wait()
    closing = asyncio.create_task(db.close())
    release.set()
    await holding
    await closing
    assert db.status is DBStatus.STOPPED


@async_test
async def test_one_connection_is_opened_and_reused_by_every_call(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from dbkeeper_sqlite.dialect import SQLiteDialect

    opened: list[object] = []
    original = SQLiteDialect.connect_async

    async def counting(self: SQLiteDialect, *args: Any, **kwargs: Any) -> Any:
        conn = await original(self, *args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(SQLiteDialect, "connect_async", counting)
    db = await Notes.create(data_path=tmp_path, version=V1)
    ids = {await db.connection_id() for _ in range(20)}
    for i in range(50):
        await db.add(f"note {i}")
    assert len(await db.texts()) == 51
    assert len(opened) == 1
    assert ids == {id(opened[0])}
    await db.close()


# -- operations and the connection ----------------------------------------------------------------

@async_test
async def test_self_db_is_only_available_inside_operations(tmp_path: Path) -> None:
    db = await Notes.create(data_path=tmp_path, version=V1)
    with pytest.raises(OutsideOperationError, match="async_database_safe"):
        db.db  # noqa: B018
    await db.close()


@async_test
async def test_uncommitted_writes_are_rolled_back_with_a_warning(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    class Forgetful(Notes):
        @async_database_safe
        async def add_without_commit(self, text: str) -> None:
            await self.db.execute("INSERT INTO notes (text) VALUES (?)", (text,))

    db = await Forgetful.create(data_path=tmp_path, version=V1)
    with caplog.at_level(logging.WARNING):
        await db.add_without_commit("lost")
    assert "without commit()" in caplog.text
    assert await db.texts() == ["welcome"]
    await db.close()


@async_test
async def test_a_failing_operation_rolls_back_all_its_writes(tmp_path: Path) -> None:
    class TwoWrites(Notes):
        @async_database_safe
        async def add_two(self, first: str, second: str | None) -> bool:
            await self.db.execute("INSERT INTO notes (text) VALUES (?)", (first,))
            await self.db.execute("INSERT INTO notes (text) VALUES (?)", (second,))  # NOT NULL fails for None
            await self.db.commit()
            return True

    db = await TwoWrites.create(data_path=tmp_path, version=V1)
    assert await db.add_two("a", None) is False
    assert await db.texts() == ["welcome"]
    assert await db.add_two("a", "b") is True
    assert await db.texts() == ["welcome", "a", "b"]
    await db.close()


@async_test
async def test_cursor_calls_and_row_factory_behave_like_a_fresh_aiosqlite_connection(tmp_path: Path) -> None:
    import aiosqlite

    class Rows(Notes):
        @async_database_safe
        async def as_rows(self) -> list[str]:
            self.db.row_factory = aiosqlite.Row
            async with self.db.execute("SELECT text FROM notes") as cursor:
                return [row["text"] for row in await cursor.fetchall()]

        @async_database_safe
        async def first(self) -> Any:
            cursor = await self.db.execute("SELECT id, text FROM notes ORDER BY id")
            row = await cursor.fetchone()
            await cursor.close()
            return row

    db = await Rows.create(data_path=tmp_path, version=V1)
    assert await db.as_rows() == ["welcome"]
    assert await db.first() == (1, "welcome")  # row_factory was reset after the previous operation
    await db.close()


@async_test
async def test_update_version_stores_a_new_version(tmp_path: Path) -> None:
    db = await Notes.create(data_path=tmp_path, version=V1)
    assert await db.update_version(Version(1, 0, 1)) is True
    assert await db.get_version() == Version(1, 0, 1)
    assert await db.update_version("1.0.2") is False  # type: ignore[arg-type]
    await db.close()
    assert stored_version(tmp_path / "database.db") == Version(1, 0, 1)


@async_test
async def test_an_old_style_logger_gets_one_message_per_call(tmp_path: Path) -> None:
    class OldLogger:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def debug(self, msg: str) -> None:
            self.lines.append(("debug", msg))

        def info(self, msg: str) -> None:
            self.lines.append(("info", msg))

        def warning(self, msg: str) -> None:
            self.lines.append(("warning", msg))

        def error(self, msg: str) -> None:
            self.lines.append(("error", msg))

    logger = OldLogger()
    db = await Notes.create(logger, tmp_path, version=V1)
    assert await db.update_version("1.0.2") is False  # type: ignore[arg-type]
    await db.close()
    assert ("info", f"creating database {tmp_path.resolve() / 'database.db'} at version 1.0.0") in logger.lines
    errors = [msg for level, msg in logger.lines if level == "error"]
    assert len(errors) == 1 and "update_version failed" in errors[0] and "TypeError" in errors[0]
    assert all(isinstance(msg, str) for _, msg in logger.lines)


@async_test
async def test_an_in_memory_database_works_without_snapshots(tmp_path: Path) -> None:
    async with await Notes.create(url="sqlite:///:memory:", version=V2) as db:
        assert db.db_path is None
        assert await db.texts() == ["welcome"]
        assert await db.get_version() == V2


@async_test
async def test_an_unknown_url_scheme_fails_the_startup_with_the_registry_error(tmp_path: Path) -> None:
    from dbkeeper.errors import UnsupportedDatabaseError

    db = Notes(url="nosuchdb://host/x", version=V1)
    with pytest.raises(UnsupportedDatabaseError, match="nosuchdb"):
        await db.ensure_ready()
    assert db.status is DBStatus.FAILED


def test_the_lifecycle_package_parses_as_python_3_11() -> None:
    """No PEP 695 (``def f[T]``, ``type X = ...``): the old DBManager's ``create[T]`` needed 3.12."""
    import ast

    import dbkeeper.lifecycle

    package = Path(dbkeeper.lifecycle.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 8
    for source in sources:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source), feature_version=(3, 11))
        for node in ast.walk(tree):
            assert not getattr(node, "type_params", None), f"{source.name}:{getattr(node, 'lineno', '?')}"
            assert type(node).__name__ != "TypeAlias", f"{source.name}:{getattr(node, 'lineno', '?')}"
