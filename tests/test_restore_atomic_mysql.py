"""MySQL/MariaDB ``restore --replace``: checked first, loaded aside, swapped in whole.

Against the shared MariaDB, as a real restricted account (created with a
unique name and a random password, dropped afterwards): a backup whose view
has a DEFINER that account may not set is refused before anything changes
(it used to drop the target and then fail with ``ERROR 1227``); a restore
replaces tables, views, triggers, routines and events of the target all at
once and leaves no scratch schema; the leftovers a killed restore leaves are
listed and removed by the dialect (finishing or undoing it).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupError, BackupManager, RestoreTargetError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.pytest_plugin import require_server
from dbkeeper.testing.servers import scratch_database
from dbkeeper.urls import DatabaseURL

OLD = [
    "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))",
    "INSERT INTO t VALUES (1, 'old'), (2, 'old')",
    "CREATE TABLE only_old (x int)",
    "CREATE TABLE audit (msg varchar(40))",
    "CREATE TRIGGER t_old BEFORE INSERT ON t FOR EACH ROW INSERT INTO audit VALUES ('old trigger')",
    "CREATE VIEW v_old AS SELECT id FROM t",
    "CREATE PROCEDURE p_old() SELECT 1",
]
NEW = [
    "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))",
    "INSERT INTO t VALUES (1, 'new'), (2, 'new'), (3, 'new')",
    "CREATE TABLE audit (msg varchar(40))",
    "CREATE TABLE child (id int PRIMARY KEY, t_id int, FOREIGN KEY (t_id) REFERENCES t(id))",
    "INSERT INTO child VALUES (10, 3)",
    "CREATE TRIGGER t_new BEFORE INSERT ON t FOR EACH ROW INSERT INTO audit VALUES ('new trigger')",
    "CREATE VIEW v_base AS SELECT id, v FROM t",
    "CREATE VIEW v_new AS SELECT id FROM v_base WHERE v = 'new'",
    "CREATE PROCEDURE p_new() SELECT COUNT(*) AS n FROM t",
    "CREATE FUNCTION f_new() RETURNS int DETERMINISTIC RETURN (SELECT COUNT(*) FROM t)",
    "CREATE EVENT e_new ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit",
]


@pytest.fixture
def admin_url() -> DatabaseURL:
    url = require_server("mysql")
    return url


def run(url: DatabaseURL, statements: list[str]) -> None:
    with DatabaseConnection.from_url(url, name="setup", max_retries=0) as conn:
        for sql in statements:
            conn.execute(sql)


def rows(url: DatabaseURL, sql: str) -> list[tuple[Any, ...]]:
    with DatabaseConnection.from_url(url, name="probe", max_retries=0) as conn:
        return [tuple(r.values()) for r in conn.execute(sql).rows]


def objects(url: DatabaseURL) -> dict[str, list[str]]:
    """Everything in the target database, by kind."""
    name = url.database
    q = {"tables": f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{name}' "
                   "AND table_type = 'BASE TABLE' ORDER BY 1",
         "views": f"SELECT table_name FROM information_schema.views WHERE table_schema = '{name}' ORDER BY 1",
         "triggers": f"SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = '{name}' "
                     "ORDER BY 1",
         "routines": f"SELECT routine_name FROM information_schema.routines WHERE routine_schema = '{name}' "
                     "ORDER BY 1",
         "events": f"SELECT event_name FROM information_schema.events WHERE event_schema = '{name}' ORDER BY 1"}
    return {k: [r[0] for r in rows(url.with_database(""), sql)] for k, sql in q.items()}


OLD_OBJECTS = {"tables": ["audit", "only_old", "t"], "views": ["v_old"], "triggers": ["t_old"],
               "routines": ["p_old"], "events": []}
NEW_OBJECTS = {"tables": ["audit", "child", "t"], "views": ["v_base", "v_new"], "triggers": ["t_new"],
               "routines": ["f_new", "p_new"], "events": ["e_new"]}


def schemas_like(url: DatabaseURL, name: str) -> list[str]:
    return [r[0] for r in rows(url.with_database(""), "SELECT schema_name FROM information_schema.schemata "
                               f"WHERE schema_name LIKE '{name}\\_dbk\\_%'")]


@pytest.fixture
def source(admin_url: DatabaseURL) -> Iterator[DatabaseURL]:
    with scratch_database(admin_url, prefix="dbk_arsrc") as url:
        yield url


@pytest.fixture
def target(admin_url: DatabaseURL) -> Iterator[DatabaseURL]:
    with scratch_database(admin_url, prefix="dbk_artgt") as url:
        yield url
        for leftover in schemas_like(url, url.database or ""):
            run(admin_url, [f"DROP DATABASE `{leftover}`"])


@pytest.fixture
def restricted(admin_url: DatabaseURL, source: DatabaseURL, target: DatabaseURL) -> Iterator[DatabaseURL]:
    """A real account with rights on the target and its ``<target>_dbk_*`` schemas (no SUPER, no SET USER).

    It may also use the source database, so that objects there can name it as their definer.
    """
    user = f"dbk_r_{secrets.token_hex(4)}"
    password = "Pw/" + secrets.token_urlsafe(18)
    db = target.database or ""
    pattern = db.replace("_", "\\_") + "\\_dbk\\_%"
    run(admin_url, [f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
                    f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'%'",
                    f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO '{user}'@'%'",
                    f"GRANT ALL PRIVILEGES ON `{source.database}`.* TO '{user}'@'%'"])
    try:
        yield DatabaseURL(scheme="mysql", host=admin_url.host, port=admin_url.port, username=user,
                          password=password, database=db)
    finally:
        run(admin_url, [f"DROP USER '{user}'@'%'"])


def as_definer(statements: list[str], url: DatabaseURL) -> list[str]:
    """The statements with every view, trigger, routine and event defined by ``url``'s account."""
    definer = f"`{url.username}`@`%`"
    out = []
    kinds = ("TRIGGER", "VIEW", "PROCEDURE", "FUNCTION", "EVENT")
    for sql in statements:
        defined = any(sql.startswith(f"CREATE {kind} ") for kind in kinds)
        out.append(sql.replace("CREATE ", f"CREATE DEFINER={definer} ", 1) if defined else sql)
    return out


def test_foreign_definer_is_refused_before_the_target_changes(admin_url: DatabaseURL, source: DatabaseURL,
                                                              restricted: DatabaseURL, tmp_path: Path) -> None:
    run(source, ["CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (7)",
                 "CREATE DEFINER=`dbk_nobody`@`localhost` VIEW v AS SELECT id FROM t"])
    run(restricted, as_definer(OLD, restricted))
    manager = BackupManager(tmp_path / "ws", source)
    result = manager.create_backup("src", compression="zstd")
    assert result.success, result.error_message
    with pytest.raises(RestoreTargetError, match="DEFINER") as caught:
        manager.restore_backup(result.backup_id, restricted, replace=True)
    assert restricted.password and restricted.password not in str(caught.value)
    assert objects(restricted) == OLD_OBJECTS
    assert rows(restricted, "SELECT id, v FROM t ORDER BY id") == [(1, "old"), (2, "old")]
    assert schemas_like(restricted, restricted.database or "") == []


def test_a_dump_failing_to_load_leaves_the_target_as_it_was(restricted: DatabaseURL) -> None:
    """Without definers in the manifest (older backups) the load into the scratch schema fails, not the target."""
    from dbkeeper_mysql.dump import restore

    run(restricted, as_definer(OLD, restricted))
    dump = (b"CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (5);\n"
            b"CREATE DEFINER=`dbk_nobody`@`localhost` VIEW v AS SELECT id FROM t;\n")
    with DatabaseConnection.from_url(restricted, name="restore", max_retries=0) as conn, \
            pytest.raises(BackupError, match="1227") as caught:
        restore(conn, io.BytesIO(dump), {"manifest": {"dump": {"content": "full"}}, "replace": True})
    assert restricted.password and restricted.password not in str(caught.value)
    assert objects(restricted) == OLD_OBJECTS
    assert rows(restricted, "SELECT id, v FROM t ORDER BY id") == [(1, "old"), (2, "old")]
    assert schemas_like(restricted, restricted.database or "") == []


def test_replace_swaps_tables_views_triggers_routines_and_events(admin_url: DatabaseURL, source: DatabaseURL,
                                                                  restricted: DatabaseURL, tmp_path: Path) -> None:
    run(restricted, as_definer(OLD, restricted))
    run(source, as_definer(NEW, restricted))
    manager = BackupManager(tmp_path / "ws", source)
    result = manager.create_backup("src", compression="zstd")
    assert result.success, result.error_message
    manager.restore_backup(result.backup_id, restricted, replace=True)
    assert objects(restricted) == NEW_OBJECTS
    assert rows(restricted, "SELECT id, v FROM t ORDER BY id") == [(1, "new"), (2, "new"), (3, "new")]
    assert rows(restricted, "SELECT * FROM v_new ORDER BY id") == [(1,), (2,), (3,)]
    assert rows(restricted, "SELECT f_new()") == [(3,)]
    run(restricted, ["INSERT INTO t VALUES (4, 'x')"])
    assert rows(restricted, "SELECT msg FROM audit") == [("new trigger",)]
    definers = rows(admin_url, "SELECT DISTINCT definer FROM information_schema.routines "
                    f"WHERE routine_schema = '{restricted.database}'")
    assert definers == [(f"{restricted.username}@%",)]
    assert schemas_like(restricted, restricted.database or "") == []


def test_restore_into_a_missing_database_creates_it(admin_url: DatabaseURL, source: DatabaseURL,
                                                    tmp_path: Path) -> None:
    run(source, NEW)
    manager = BackupManager(tmp_path / "ws", source)
    result = manager.create_backup("src", compression="zstd")
    assert result.success, result.error_message
    name = f"dbk_armiss_{secrets.token_hex(4)}"
    missing = admin_url.with_database(name)
    try:
        manager.restore_backup(result.backup_id, missing)
        assert objects(missing) == NEW_OBJECTS
    finally:
        run(admin_url, [f"DROP DATABASE IF EXISTS `{name}`"])


def test_leftover_removal_refuses_what_is_not_a_leftover(admin_url: DatabaseURL, restricted: DatabaseURL) -> None:
    run(restricted, as_definer(OLD, restricted))
    name = restricted.database or ""
    lookalike = f"{name}_dbk_restore_NOTHEX00"  # not the pattern: upper case, so never ours
    run(admin_url, [f"CREATE DATABASE `{lookalike}`"])
    try:
        with DatabaseConnection.from_url(restricted, name="leftovers", max_retries=0) as conn:
            assert conn.dialect.restore_leftovers(conn) == []
            for bad in (name, lookalike, "mysql", f"{name}_dbk_aside_0000000"):
                with pytest.raises(RestoreTargetError, match="not a leftover"):
                    conn.dialect.remove_restore_leftover(conn, bad)
        assert objects(restricted) == OLD_OBJECTS
        assert lookalike in schemas_like(restricted, name)
    finally:
        run(admin_url, [f"DROP DATABASE `{lookalike}`"])
