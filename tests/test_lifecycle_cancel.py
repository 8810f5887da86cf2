"""Cancelling an async lifecycle call mid-statement, on SQLite and PostgreSQL.

The call's task is cancelled while the database is busy with its statement
(a transaction already open by an earlier INSERT). Afterwards the connection
is not left in a transaction or busy with the statement, nothing the call
wrote is kept, the instance's lock is free, and the next call runs at once
on the same connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.lifecycle import Version, VersionedDatabase, async_database_safe, fail_with_exception
from dbkeeper.urls import DatabaseURL

V1 = Version(1, 0, 0)
#: A statement that keeps each database busy for much longer than the test waits before cancelling.
LONG = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
              "SELECT count(*) FROM c",
    "postgres": "SELECT pg_sleep(600)",
}


class Notes(VersionedDatabase):
    async def init_db(self) -> None:
        await self.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        await self.db.commit()

    async def migrate_db(self, current: Version, target: Version) -> bool:
        return True

    @async_database_safe
    @fail_with_exception
    async def write_then_wait(self, long_sql: str, started: asyncio.Event) -> None:
        await self.db.execute("INSERT INTO notes (id, text) VALUES (?, ?)", (1, "cancelled write"))
        started.set()
        await self.db.execute_fetchall(long_sql)
        await self.db.commit()

    @async_database_safe
    @fail_with_exception
    async def left_in_transaction(self) -> bool:
        return bool(self.db.in_transaction)

    @async_database_safe
    @fail_with_exception
    async def texts(self) -> list[str]:
        return [str(r[0]) for r in await self.db.execute_fetchall("SELECT text FROM notes ORDER BY id")]

    @async_database_safe
    @fail_with_exception
    async def busy_backends(self) -> int:
        rows = await self.db.execute_fetchall(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%' "
            "AND state = 'active' AND pid <> pg_backend_pid()")
        return int(rows[0][0])


async def _cancel_mid_statement(db: Notes, kind: str) -> None:
    started = asyncio.Event()
    task = asyncio.ensure_future(db.write_then_wait(LONG[kind], started))
    await started.wait()
    await asyncio.sleep(0.3)  # the long statement is now running in the database
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db._lock.locked
    assert await db.left_in_transaction() is False
    assert await db.texts() == []  # the next call runs, and the cancelled write was rolled back
    await db.write_then_wait("SELECT 1", asyncio.Event())
    assert await db.texts() == ["cancelled write"]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_cancelling_a_call_mid_statement_rolls_back_and_frees_the_connection(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url: Any
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        pg: DatabaseURL = request.getfixturevalue("dbkeeper_postgres_url")
        url = pg.render(hide_password=False)

    async def scenario() -> None:
        db = await Notes.create(url=url, version=V1)
        try:
            await asyncio.wait_for(_cancel_mid_statement(db, kind), timeout=120)
            if kind == "postgres":
                assert await db.busy_backends() == 0  # the server stopped the statement too
        finally:
            await db.close()

    asyncio.run(scenario())
