"""The lifecycle step of ``dbkeeper demo``: create a versioned database, upgrade it, watch it.

A small notes database ships version 1.0.0 (a ``notes`` table), then a
release needs 1.1.0 (a ``pinned`` column). The demo starts it at 1.0.0, adds a
note, closes it, starts it again with the 1.1.0 code (the upgrade runs), and
finally tries a broken 1.2.0 upgrade to show that a failed upgrade ends FAILED
with the database still at 1.1.0. Every status transition is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from dbkeeper.lifecycle.database import VersionedDatabase
from dbkeeper.lifecycle.decorators import async_database_safe, fail_with_exception, with_fail_value
from dbkeeper.lifecycle.errors import UpgradeError
from dbkeeper.lifecycle.status import DBStatus
from dbkeeper.lifecycle.version import Version

V1_0 = Version(1, 0, 0)
V1_1 = Version(1, 1, 0)
V1_2 = Version(1, 2, 0)


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("dbkeeper.demo.lifecycle")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


class DemoNotes(VersionedDatabase):
    """Notes, version 1.0.0 -> 1.1.0 (adds ``pinned``); 1.2.0 is a deliberately broken upgrade."""

    def report(self, message: str) -> None:
        """Where the demo's narration goes (nowhere unless overridden)."""

    def status_changed(self, old: DBStatus, new: DBStatus) -> None:
        self.report(f"  status {old.name} -> {new.name}")

    async def init_db(self) -> None:
        await self.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        if self.version >= V1_1:
            await self.db.execute("ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    async def migrate_db(self, current: Version, target: Version) -> bool:
        self.report(f"  migrate_db({current} -> {target}) runs inside one transaction")
        version = current
        if version < V1_1 <= target:
            await self.db.execute("ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")
            await self.db.execute("UPDATE notes SET pinned = 1 WHERE id = (SELECT min(id) FROM notes)")
            version = V1_1
        if version < V1_2 <= target:
            await self.db.execute("CREATE TABLE tags (note_id INTEGER, tag TEXT)")
            await self.db.execute("INSERT INTO no_such_table VALUES (1)")  # the bug in release 1.2.0
            version = V1_2
        return version == target

    @async_database_safe
    @fail_with_exception
    async def add_note(self, text: str) -> None:
        await self.db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
        await self.db.commit()

    @async_database_safe
    @with_fail_value([])
    async def columns(self) -> list[str]:
        rows = await self.db.execute_fetchall("SELECT name FROM pragma_table_info('notes') ORDER BY cid")
        return [str(row[0]) for row in rows]


async def run_lifecycle_demo(directory: Path, say: Callable[[str], None]) -> None:
    """Start a versioned database in ``directory``, upgrade it 1.0.0 -> 1.1.0, report via ``say``."""

    class ReportedNotes(DemoNotes):
        def report(self, message: str) -> None:
            say(message)

    logger = _quiet_logger()
    directory = Path(directory)

    say("start release 1.0.0 on a new database:")
    db = await ReportedNotes.create(logger, directory, "notes.db", V1_0)
    await db.add_note("first note")
    say(f"  stored version {await db.get_version()}, columns {await db.columns()}")
    await db.close()

    say("start release 1.1.0 on the same file (upgrade 1.0.0 -> 1.1.0):")
    db = await ReportedNotes.create(logger, directory, "notes.db", V1_1)
    say(f"  stored version {await db.get_version()}, columns {await db.columns()}")
    await db.close()

    say("start a broken release 1.2.0 (its migrate_db fails halfway):")
    try:
        await ReportedNotes.create(logger, directory, "notes.db", V1_2)
    except UpgradeError as exc:
        say(f"  upgrade refused: {exc}")
    db = await ReportedNotes.create(logger, directory, "notes.db", V1_1)
    say(f"  still at version {await db.get_version()}, columns {await db.columns()}")
    await db.close()
