"""The migration step of ``dbkeeper demo``: a real run that checks itself as it goes.

It writes a small migrations directory (an ``.up.sql``/``.down.sql`` pair and
JSON files made through the seed API), previews it with a dry run, applies it
under the lock, shows the status table, proves that an edited applied file
is refused and that a failing migration leaves no trace (one transaction per
migration), rolls one back and re-applies it. Any wrong result raises
:class:`~dbkeeper.migrations.errors.MigrationError`, so a broken engine fails
the demo instead of printing nonsense.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dbkeeper.migrations.errors import ChecksumMismatchError, MigrationError
from dbkeeper.migrations.manager import MigrationManager
from dbkeeper.migrations.migrator import Listener
from dbkeeper.migrations.model import MigrationResult
from dbkeeper.migrations.status import render_table

TABLE = "demo_catalog"
HISTORY = "dbkeeper_demo_migrations"
#: Every table the demo's migrations create (dropped by ``dbkeeper demo`` before a re-run).
TABLES = (TABLE, "demo_half_done")


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise MigrationError(f"migration demo: {what}")


def _describe(result: MigrationResult) -> str:
    verb = ("applied" if result.direction == "up" else "rolled back") if result.success else "FAILED"
    return (f"  {verb} {result.migration_id}: {result.statements_executed} statement(s) in "
            f"{result.execution_time * 1000:.1f} ms" + (f" - {result.error_message}" if result.error_message else ""))


def run_migrations_demo(directory: Path, database_url: str, say: Callable[[str], None]) -> None:
    """Run the migration demo in ``directory`` against ``database_url``, reporting through ``say``."""
    migrations = directory / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    first_up = migrations / "0001_create_catalog.up.sql"
    first_up.write_text(
        "-- description: the product catalog\n"
        f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n"
        f"INSERT INTO {TABLE} (id, name) VALUES (1, 'tea; green'), (2, 'coffee'), (3, 'it''s cocoa');\n",
        encoding="utf-8")
    (migrations / "0001_create_catalog.down.sql").write_text(f"DROP TABLE {TABLE};\n", encoding="utf-8")

    class Say(Listener):
        def message(self, text: str) -> None:
            say(f"  {text}")

    with MigrationManager(workspace_dir=directory / "workspace", database_url=database_url, table=HISTORY,
                          listener=Say()) as manager:
        manager.load_migrations_from_directory(migrations)
        price = manager.create_migration(
            "add price", "prices in cents", f"ALTER TABLE {TABLE} ADD COLUMN price INTEGER;\n"
            f"UPDATE {TABLE} SET price = 100 * id;", f"ALTER TABLE {TABLE} DROP COLUMN price;", ["0001"])
        index = manager.create_migration("index names", "look products up by name",
                                         f"CREATE INDEX {TABLE}_name ON {TABLE} (name);",
                                         f"DROP INDEX {TABLE}_name" + (" ON " + TABLE if "mysql" in
                                                                       database_url else "") + ";", [price.id])
        say(f"wrote 3 migrations to {migrations} (an .up.sql/.down.sql pair and 2 JSON files)")

        preview = manager.upgrade(dry_run=True)
        statements = sum(len(step.statements) for step in preview.steps)
        say(f"dry run: {len(preview.steps)} migrations, {statements} statements, nothing changed")
        _check(len(preview.steps) == 3 and not preview.results, "the dry run should plan 3 migrations")

        applied = manager.upgrade()
        for result in applied.results:
            say(_describe(result))
        _check(applied.success and len(applied.results) == 3, "all three migrations should apply")
        connection = manager.connection()
        total = connection.execute(f"SELECT SUM(price) AS total FROM {TABLE}").scalar()
        _check(int(total or 0) == 600, f"expected prices summing to 600, found {total}")

        for line in render_table(manager.status()).splitlines():
            say(f"  {line}" if line else "")

        original = first_up.read_text(encoding="utf-8")
        first_up.write_text(original + f"DELETE FROM {TABLE};\n", encoding="utf-8")
        manager.load_migrations_from_directory(migrations)
        try:
            manager.upgrade()
        except ChecksumMismatchError:
            say("edited an applied migration: refused (file and both checksums named), nothing ran")
        else:
            raise MigrationError("migration demo: an edited applied migration was not refused")
        finally:
            first_up.write_text(original, encoding="utf-8")
        manager.load_migrations_from_directory(migrations)

        broken = migrations / "0004_broken.up.sql"
        broken.write_text("CREATE TABLE demo_half_done (x INTEGER);\nINSERT INTO demo_missing_table VALUES (1);\n",
                          encoding="utf-8")
        broken.with_name("0004_broken.down.sql").write_text("DROP TABLE demo_half_done;\n", encoding="utf-8")
        manager.load_migrations_from_directory(migrations)
        failed = manager.upgrade()
        _check(not failed.success, "the broken migration should fail")
        say(_describe(failed.results[-1]))
        if connection.dialect.capabilities.transactional_ddl:
            left = connection.dialect.migration_table_exists(connection, "demo_half_done", None)
            _check(not left, "a failed migration left its first statement behind")
            say("  its transaction rolled back: statement 1 left no trace; fixing the file and running again")
            broken.write_text("CREATE TABLE demo_half_done (x INTEGER);\n", encoding="utf-8")
            manager.load_migrations_from_directory(migrations)
            retried = manager.upgrade()
            _check(retried.success and len(retried.results) == 1, "the fixed migration should apply")
            say(_describe(retried.results[0]))
        else:
            say("  DDL commits on its own here: progress was recorded per statement; repairing")
            broken.write_text("CREATE TABLE demo_half_done (x INTEGER);\nSELECT 1;\n", encoding="utf-8")
            manager.load_migrations_from_directory(migrations)
            manager.accept_checksum("0004")
            say(f"  {manager.repair('0004', 'retry')}")

        rolled = manager.downgrade()
        _check(rolled.success and [r.migration_id for r in rolled.results] == ["0004"], "down should undo 0004")
        say(_describe(rolled.results[0]))
        rolled = manager.downgrade(target=price.id)
        _check(rolled.success and [r.migration_id for r in rolled.results] == [index.id],
               "down --to 0002 should undo 0003")
        say(f"down --to {price.id}:")
        say(_describe(rolled.results[0]))
        again = manager.upgrade()
        _check(again.success and [r.migration_id for r in again.results] == [index.id, "0004"],
               "up should re-apply what was rolled back")
        say(f"up again: re-applied {', '.join(r.migration_id for r in again.results)}")
        counts = manager.status().counts
        _check(counts["applied"] == 4 and sum(counts.values()) == 4, f"expected 4 applied, found {counts}")
        say(f"history table {HISTORY}: 4 applied, each with checksum, duration, statements and who ran it")
