"""A backup set is one database on one server (dialect, server, name): prune, chains and list never cross sets.

Found in a real terminal: a PostgreSQL and a MariaDB database both called
``ux_big`` landed in one set, and ``prune --keep-last 1`` would have deleted
every PostgreSQL backup but kept the MariaDB one. Here with real databases
of one name on both servers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.errors import BackupSetError
from dbkeeper.backup.manager import BackupManager
from dbkeeper.cli.commands.backup import backup
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing import servers
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.urls import DatabaseURL


def _database_on(kind: str, name: str) -> Iterator[DatabaseURL]:
    """A database called ``name`` on the ``kind`` test server, with one table; dropped afterwards."""
    admin_url = servers.server_url(kind)
    reason = servers.check_server(admin_url)
    if reason is not None:
        unavailable(f"{kind} server unavailable: {reason}")
    admin = DatabaseConnection.from_url(admin_url, name="admin", connection_pool_size=1, max_retries=0)
    admin.connect()
    admin.execute(admin.dialect.create_database_sql(name))
    url = admin_url.with_database(name)
    try:
        setup = DatabaseConnection.from_url(url, name="setup")
        setup.connect()
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(20))")
        setup.execute("INSERT INTO t (id, v) VALUES (1, 'one')")
        setup.disconnect()
        yield url
    finally:
        admin.execute(admin.dialect.drop_database_sql(name))
        admin.disconnect()


@pytest.fixture
def same_name() -> str:
    return servers.unique_name("dbk_set")


@pytest.fixture
def postgres_db(same_name: str) -> Iterator[DatabaseURL]:
    yield from _database_on("postgres", same_name)


@pytest.fixture
def mysql_db(same_name: str) -> Iterator[DatabaseURL]:
    yield from _database_on("mysql", same_name)


def _create(ws: Path, url: DatabaseURL, *extra: str) -> str:
    result = CliRunner().invoke(backup, ["create", "--db", url.render(hide_password=False), "--workspace", str(ws),
                                         "--json", *extra])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["backup_id"])


def test_prune_by_name_never_mixes_two_servers(tmp_path: Path, same_name: str, postgres_db: DatabaseURL,
                                               mysql_db: DatabaseURL) -> None:
    ws = tmp_path / "ws"
    pg = [_create(ws, postgres_db) for _ in range(3)]
    my = [_create(ws, mysql_db)]
    runner = CliRunner()
    # The name alone is ambiguous: refused, nothing deleted, both sets named.
    ambiguous = runner.invoke(backup, ["prune", "--name", same_name, "--keep-last", "1", "--workspace", str(ws)])
    assert ambiguous.exit_code == 2, ambiguous.output
    assert "postgres" in ambiguous.stderr and "mysql" in ambiguous.stderr and "--db" in ambiguous.stderr
    assert {b.backup_id for b in BackupManager(ws).get_backups()} == {*pg, *my}
    # With the server named, only that set is pruned.
    pruned = runner.invoke(backup, ["prune", "--name", same_name, "--db", postgres_db.render(hide_password=False),
                                    "--keep-last", "1", "--workspace", str(ws), "--json"])
    assert pruned.exit_code == 0, pruned.output
    assert sorted(json.loads(pruned.stdout)["deleted"]) == sorted(pg[:2])
    assert {b.backup_id for b in BackupManager(ws).get_backups()} == {pg[2], *my}
    pruned = runner.invoke(backup, ["prune", "--name", same_name, "--db", mysql_db.render(hide_password=False),
                                    "--keep-last", "1", "--workspace", str(ws), "--json"])
    assert pruned.exit_code == 0 and json.loads(pruned.stdout)["deleted"] == []


def test_list_shows_each_set_apart(tmp_path: Path, same_name: str, postgres_db: DatabaseURL,
                                   mysql_db: DatabaseURL) -> None:
    ws = tmp_path / "ws"
    pg, my = _create(ws, postgres_db), _create(ws, mysql_db)
    listed = json.loads(CliRunner().invoke(backup, ["list", "--workspace", str(ws), "--json"]).stdout)
    sets = {b["backup_id"]: b["metadata"]["backup_set"] for b in listed}
    assert sets[pg] != sets[my]
    assert sets[pg].startswith("postgres") and f"/{same_name}" in sets[pg]
    only = CliRunner().invoke(backup, ["list", "--name", same_name, "--db", mysql_db.render(hide_password=False),
                                       "--workspace", str(ws), "--json"])
    assert [b["backup_id"] for b in json.loads(only.stdout)] == [my]
    text = CliRunner().invoke(backup, ["list", "--workspace", str(ws)]).stdout
    assert text.count("set ") == 2, text


def test_the_library_refuses_an_ambiguous_name(tmp_path: Path, same_name: str, postgres_db: DatabaseURL,
                                               mysql_db: DatabaseURL) -> None:
    manager = BackupManager(tmp_path / "ws")
    assert manager.create_backup(same_name, postgres_db).success
    assert manager.create_backup(same_name, mysql_db).success
    with pytest.raises(BackupSetError, match="several servers"):
        manager.prune(same_name, keep_last=1)
    assert len(manager.get_backups()) == 2
    assert manager.prune(same_name, keep_last=1, database_url=postgres_db).deleted == []


# -- chains stay inside their set ------------------------------------------------------------------------------
def _sqlite(path: Path) -> DatabaseURL:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"v{i}",) for i in range(200)])
    conn.commit()
    conn.close()
    return DatabaseURL(scheme="sqlite", database=str(path))


def test_an_incremental_never_builds_on_another_servers_backup(tmp_path: Path) -> None:
    manager = BackupManager(tmp_path / "ws")
    first, second = _sqlite(tmp_path / "a.db"), _sqlite(tmp_path / "b.db")
    assert manager.create_backup("app", first).success
    # the other server's set has no backup: the incremental becomes that set's full (never a child of a.db's)
    other = manager.create_backup("app", second, backup_type="incremental")
    assert other.success and "no backup" in other.warnings[0]
    taken = manager.get_backup(other.backup_id)
    assert taken.backup_type == "full" and not taken.metadata.get("parent_id")
    chained = manager.create_backup("app", first, backup_type="incremental")
    assert chained.success and manager.get_backup(chained.backup_id).backup_type == "incremental"


# -- old catalogs ------------------------------------------------------------------------------------------------
def test_rows_from_before_sets_join_the_set_of_their_dialect_and_name(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    url = _sqlite(tmp_path / "a.db")
    manager = BackupManager(ws)
    assert manager.create_backup("app", url).success
    with sqlite3.connect(ws / "catalog.db") as conn:  # what a catalog written before backup sets looks like
        conn.execute("ALTER TABLE backups DROP COLUMN server")
    old = BackupManager(ws).get_backups()
    assert len(old) == 1
    assert BackupManager(ws).create_backup("app", url, backup_type="incremental").success
    listed = BackupManager(ws).get_backups()
    assert len({b.metadata["backup_set"] for b in listed}) == 1
    assert Catalog(ws / "catalog.db").sets("app")[0].server is not None
    assert BackupManager(ws).prune("app", keep_last=1).deleted == []  # the old full is the new one's base
