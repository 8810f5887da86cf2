"""The versioned lifecycle on a real PostgreSQL server (psycopg async connections).

Needs the postgres dialect plugin and the test server
(``DBKEEPER_TEST_POSTGRES_URL``). Each test runs in its own scratch database
(dbkeeper's ``dbkeeper_postgres_url`` fixture), dropped afterwards. Without the
plugin or the server the tests skip, unless ``DBKEEPER_REQUIRE_SERVERS=1``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from dbkeeper.lifecycle import (
    DBStatus,
    StartupError,
    UpgradeError,
    Version,
    VersionedDatabase,
    VersionTooNewError,
    async_database_safe,
    async_during_init,
    fail_with_exception,
    with_fail_value,
)
from dbkeeper.urls import DatabaseURL

pytestmark = pytest.mark.postgres

T = TypeVar("T")
V1 = Version(1, 0, 0)
V2 = Version(1, 1, 0)


def async_test(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async test function with ``asyncio.run`` (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@pytest.fixture
def pg_url(dbkeeper_postgres_url: DatabaseURL) -> str:
    """A new, empty PostgreSQL database for one test (dbkeeper's scratch-database fixture)."""
    return dbkeeper_postgres_url.render(hide_password=False)


class Notes(VersionedDatabase):
    """1.0.0: ``notes(id, text)``. 1.1.0 adds ``notes.tag`` and a ``tags`` table."""

    async def init_db(self) -> None:
        await self.db.execute("CREATE TABLE notes (id SERIAL PRIMARY KEY, text TEXT NOT NULL)")
        await self.db.execute("INSERT INTO notes (text) VALUES (?)", ("welcome",))
        await self.db.commit()
        if self.version >= V2:
            await self.add_tags()

    async def add_tags(self) -> None:
        await self.db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")
        await self.db.execute("CREATE TABLE tags (name TEXT PRIMARY KEY)")
        await self.db.execute("INSERT INTO tags (name) VALUES (:name)", {"name": "inbox"})

    @async_database_safe
    @async_during_init
    @fail_with_exception
    async def migrate_db(self, current: Version, target: Version) -> bool:
        await self.add_tags()
        await self.db.commit()
        return True

    @async_database_safe
    @fail_with_exception
    async def add(self, text: str) -> int:
        async with self.db.execute("INSERT INTO notes (text) VALUES (?) RETURNING id", (text,)) as cursor:
            row = await cursor.fetchone()
        await self.db.commit()
        return int(row[0])

    @async_database_safe
    @with_fail_value([])
    async def texts(self) -> list[str]:
        rows = await self.db.execute_fetchall("SELECT text FROM notes ORDER BY id")
        return [row[0] for row in rows]

    @async_database_safe
    async def schema(self) -> list[tuple[str, str]]:
        rows = await self.db.execute_fetchall(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, column_name"
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    @async_database_safe
    async def connection_id(self) -> int:
        return id(self.db.raw)


@async_test
async def test_postgres_database_is_created_then_upgraded_keeping_its_data(pg_url: str) -> None:
    db = await Notes.create(url=pg_url, version=V1)
    assert await db.add("first") == 2
    assert await db.get_version() == V1
    assert db.db_path is None
    await db.close()
    db = await Notes.create(url=pg_url, version=V2)
    assert await db.get_version() == V2
    assert await db.texts() == ["welcome", "first"]
    assert ("tags", "name") in await db.schema()
    await db.close()
    assert db.status is DBStatus.STOPPED


@pytest.mark.parametrize("outcome", ["raise", "false", "exception object"])
@async_test
async def test_postgres_failed_upgrade_rolls_back_schema_data_and_version(pg_url: str, outcome: str) -> None:
    class Broken(Notes):
        async def migrate_db(self, current: Version, target: Version) -> Any:
            await self.add_tags()
            await self.db.execute("UPDATE notes SET text = 'changed'")
            await self.db.commit()
            if outcome == "raise":
                raise RuntimeError("boom")
            return False if outcome == "false" else RuntimeError("returned")

    db = await Notes.create(url=pg_url, version=V1)
    await db.add("first")
    schema = await db.schema()
    await db.close()
    broken = Broken(url=pg_url, version=V2)
    with pytest.raises(UpgradeError):
        await broken.ensure_ready()
    assert broken.status is DBStatus.FAILED
    db = await Notes.create(url=pg_url, version=V1)
    assert await db.get_version() == V1
    assert await db.schema() == schema
    assert await db.texts() == ["welcome", "first"]
    await db.close()


@async_test
async def test_postgres_stored_version_newer_than_the_code_is_a_clear_error(pg_url: str) -> None:
    await (await Notes.create(url=pg_url, version=V2)).close()
    with pytest.raises(VersionTooNewError, match="newer than"):
        await Notes.create(url=pg_url, version=V1)


@async_test
async def test_postgres_operations_are_atomic_and_reuse_one_connection(pg_url: str) -> None:
    class Ops(Notes):
        @async_database_safe
        async def add_two(self, first: str, second: str | None) -> bool:
            await self.db.execute("INSERT INTO notes (text) VALUES (?)", (first,))
            await self.db.execute("INSERT INTO notes (text) VALUES (?)", (second,))
            await self.db.commit()
            return True

        @async_database_safe
        async def add_without_commit(self, text: str) -> None:
            await self.db.execute("INSERT INTO notes (text) VALUES (:text)", {"text": text})

        @async_database_safe
        async def percent_literal(self) -> list[Any]:
            return await self.db.execute_fetchall("SELECT '100%' AS p, ? AS v", ("x",))

    db = await Ops.create(url=pg_url, version=V1)
    assert await db.add_two("a", None) is False  # NOT NULL fails: "a" is rolled back too
    await db.add_without_commit("lost")
    assert await db.texts() == ["welcome"]
    assert await db.add_two("a", "b") is True
    assert await db.texts() == ["welcome", "a", "b"]
    assert await db.percent_literal() == [("100%", "x")]
    assert len({await db.connection_id() for _ in range(10)}) == 1
    await db.close()


@async_test
async def test_postgres_unreachable_server_is_a_startup_error_that_hides_the_password(pg_url: str) -> None:
    unreachable = DatabaseURL.parse(pg_url).with_database("nowhere")
    unreachable = DatabaseURL(scheme=unreachable.scheme, username="bot", password="s3cret-pw", host="127.0.0.1",
                              port=1, database="nowhere")
    db = Notes(url=unreachable, version=V1, timeout=5)
    with pytest.raises(StartupError) as caught:
        await db.ensure_ready()
    assert db.status is DBStatus.FAILED
    assert "s3cret-pw" not in str(caught.value)
    assert "s3cret-pw" not in repr(db.url)
