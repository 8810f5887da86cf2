"""The seed API's backup chain, called exactly as the document writes it.

``backup_database(database_name, database_url, backup_type="incremental",
compression="gzip")`` after a ``backup_type="full"`` must work: the seed API
has no ``chainable`` flag, so every full is a valid base. On SQLite,
PostgreSQL and MariaDB: a full, an incremental and a differential, each
with changes in between, each restoring to exactly the content the source
had when it was taken. And when a set has no usable base (none yet, or a
schema-only backup), an incremental or differential becomes a chainable
full and says so in its warnings instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager, backup_database, restore_database
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

SCHEMA = {
    "sqlite": ["CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER, payload BLOB)",
               "CREATE TABLE notes (body TEXT)"],
    "postgres": ["CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, score int, payload bytea)",
                 "CREATE TABLE notes (body text)"],
    "mysql": ["CREATE TABLE items (id bigint AUTO_INCREMENT PRIMARY KEY, name text NOT NULL, score int, "
              "payload blob)", "CREATE TABLE notes (body text)"],
}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, DatabaseURL]]:
    """An empty database of each dialect (the servers' scratch databases are dropped afterwards)."""
    kind = str(request.param)
    if kind == "sqlite":
        yield kind, DatabaseURL(scheme="sqlite", database=str(tmp_path / "shop.db"))
        return
    yield kind, request.getfixturevalue(f"dbkeeper_{kind}_url")


def _fill(kind: str, url: DatabaseURL, rows: int = 20000) -> None:
    with DatabaseConnection.from_url(url) as conn:
        for statement in SCHEMA[kind]:
            conn.execute(statement)
        conn.bulk_insert("items", [(f"item {i} 'q' \t\\ ü\n" + "x" * (i % 90), i % 50, bytes([i % 256, 0, 10, 39, 92]))
                                   for i in range(rows)], ["name", "score", "payload"])
        conn.bulk_insert("notes", [(f"note {i}",) for i in range(30)], ["body"])


def _mutate(url: DatabaseURL, step: int) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.bulk_insert("items", [(f"new {step}-{i}", i, None) for i in range(25)], ["name", "score", "payload"])
        conn.execute("UPDATE items SET score = score + 1000 WHERE id BETWEEN ? AND ?", (step * 50, step * 50 + 20))
        conn.execute("DELETE FROM items WHERE id BETWEEN ? AND ?", (300 + step * 10, 305 + step * 10))
        conn.execute("INSERT INTO notes (body) VALUES ('after step')")


def _state(url: DatabaseURL) -> dict[str, Any]:
    """Every row of both tables, in a fixed order, as the database returns them."""
    with DatabaseConnection.from_url(url) as conn:
        items = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row.values())
                 for row in conn.execute("SELECT id, name, score, payload FROM items ORDER BY id").rows]
        notes = [row["body"] for row in conn.execute("SELECT body FROM notes ORDER BY body").rows]
    return {"items": items, "notes": notes}


def _chainable_by_default(url: DatabaseURL) -> bool:
    """The dialect's documented default: whether its plain full backups are chain bases."""
    from dbkeeper.engine.plugins import get_registry

    return bool(get_registry().dialect_for_url(url).chainable_fulls_by_default)


def _target(kind: str, tmp_path: Path, stack: list[Any], name: str) -> DatabaseURL:
    if kind == "sqlite":
        return DatabaseURL(scheme="sqlite", database=str(tmp_path / f"{name}.db"))
    context = scratch_database(server_url(kind), prefix="dbk_seed")
    stack.append(context)
    return context.__enter__()


def test_the_seed_calls_make_a_chain_that_restores_every_point(source: tuple[str, DatabaseURL], tmp_path: Path,
                                                               workspace: Path) -> None:
    kind, url = source
    database_name, database_url = "shop", str(url)
    _fill(kind, url)
    points = []
    full = backup_database(database_name, database_url, backup_type="full", compression="gzip")
    assert full.success, full.error_message
    assert full.warnings == []
    points.append((full.backup_id, _state(url)))
    _mutate(url, 1)
    incremental = backup_database(database_name, database_url, backup_type="incremental", compression="gzip")
    assert incremental.success, incremental.error_message
    chainable_default = _chainable_by_default(url)
    if chainable_default:  # a real incremental on the default full: no fallback
        assert incremental.warnings == []
    else:  # the default full is the native dump: this one becomes the chain's chainable full, and says so
        assert len(incremental.warnings) == 1
        assert f"the base backup {full.backup_id} is not a chainable dump" in incremental.warnings[0]
    points.append((incremental.backup_id, _state(url)))
    _mutate(url, 2)
    differential = backup_database(database_name, database_url, backup_type="differential", compression="gzip")
    assert differential.success, differential.error_message
    assert differential.warnings == []
    points.append((differential.backup_id, _state(url)))

    manager = BackupManager(workspace)
    catalog = {b.backup_id: b for b in manager.get_backups(database_name)}
    types = [catalog[p[0]].backup_type for p in points]
    assert types == ["full", "incremental" if chainable_default else "full", "differential"]
    assert catalog[full.backup_id].metadata["chainable"] is chainable_default
    assert catalog[incremental.backup_id].metadata["chainable"] is True
    # Each chained backup stores only part of the stream: the rest is its base's.
    for chained in (incremental.backup_id, differential.backup_id) if chainable_default else (differential.backup_id,):
        assert catalog[chained].metadata["reused_bytes"] > 0
        assert catalog[chained].metadata["parent_id"] is not None
    stack: list[Any] = []
    try:
        for i, (backup_id, expected) in enumerate(points):
            target = _target(kind, tmp_path, stack, f"restored{i}")
            restored = restore_database(backup_id, str(target), replace=True)
            assert restored.success, restored.error_message
            assert _state(target) == expected
    finally:
        for context in reversed(stack):
            context.__exit__(None, None, None)


@pytest.mark.parametrize("backup_type", ["incremental", "differential"])
def test_without_a_usable_base_the_backup_becomes_a_chainable_full_and_says_so(
        source: tuple[str, DatabaseURL], tmp_path: Path, workspace: Path, backup_type: str) -> None:
    kind, url = source
    _fill(kind, url)
    first = backup_database("shop", str(url), backup_type=backup_type, compression="gzip")
    assert first.success, first.error_message
    assert len(first.warnings) == 1
    assert f"no {'full backup' if backup_type == 'differential' else 'backup'} of 'shop'" in first.warnings[0]
    assert f"took a chainable full backup instead of the {backup_type} one" in first.warnings[0]
    manager = BackupManager(workspace)
    recorded = manager.get_backup(first.backup_id)
    assert recorded.backup_type == "full" and recorded.metadata["chainable"] is True
    assert recorded.metadata["parent_id"] is None
    _mutate(url, 1)
    # The fallback full is a real base: the next one is a chained backup on it.
    second = backup_database("shop", str(url), backup_type=backup_type, compression="gzip")
    assert second.success and second.warnings == []
    assert manager.get_backup(second.backup_id).backup_type == backup_type
    stack: list[Any] = []
    try:
        target = _target(kind, tmp_path, stack, "restored")
        assert restore_database(second.backup_id, str(target), replace=True).success
        assert _state(target) == _state(url)
    finally:
        for context in reversed(stack):
            context.__exit__(None, None, None)


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_a_schema_only_base_is_replaced_by_a_chainable_full(kind: str, request: pytest.FixtureRequest,
                                                            workspace: Path) -> None:
    """Server dialects have schema-only backups (their native dump), which no chain can build on."""
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    _fill(kind, url)
    manager = BackupManager(workspace, url)
    schema_only = manager.create_backup("shop", include_data=False)
    assert schema_only.success
    result = manager.create_backup("shop", backup_type="incremental")
    assert result.success, result.error_message
    assert result.warnings and f"the base backup {schema_only.backup_id} is not a chainable dump" in result.warnings[0]
    assert manager.get_backup(result.backup_id).backup_type == "full"
    assert manager.get_backup(schema_only.backup_id).backup_type == "full"
    # A schema-only incremental without a base becomes a schema-only full: not chainable, and it says that.
    alone = manager.create_backup("other", backup_type="incremental", include_data=False)
    assert alone.success and alone.warnings[0].endswith(
        "took a full backup instead of the incremental one (a schema-only or data-only backup cannot be a chain base)")
    assert manager.get_backup(alone.backup_id).metadata["chainable"] is False
