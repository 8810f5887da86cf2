"""Bad input that used to be accepted: each is refused with a typed error, and nothing is changed.

Migration files, retention counts, lock timeouts and the migration lock's
holder message, against the real servers where a server is involved.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.backup.errors import BackupError
from dbkeeper.backup.manager import BackupManager
from dbkeeper.cli.commands.backup import backup
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ConfigurationError
from dbkeeper.migrations.errors import DuplicateMigrationError, MigrationFileError, MigrationLockError
from dbkeeper.migrations.files import load_directory
from dbkeeper.migrations.locking import MigrationLock
from dbkeeper.migrations.planner import build_graph
from dbkeeper.urls import DatabaseURL


# -- migration files ---------------------------------------------------------------------------------------
def _load(directory: Path) -> None:
    build_graph(load_directory(directory))


@pytest.mark.parametrize("sql", ["", "   \n\t", "-- description: nothing\n-- only comments\n", "/* a comment */ ;"])
def test_an_up_file_without_a_statement_is_refused(tmp_path: Path, sql: str) -> None:
    (tmp_path / "0001_empty.up.sql").write_text(sql)
    with pytest.raises(MigrationFileError, match=r"0001_empty\.up\.sql.*no SQL statement"):
        _load(tmp_path)


def test_a_json_migration_with_empty_sql_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_x.json").write_text(json.dumps({"id": "0001", "name": "x", "sql": "  "}))
    with pytest.raises(MigrationFileError, match="no SQL statement"):
        _load(tmp_path)


def test_a_json_migration_with_duplicate_keys_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_x.json").write_text('{"id": "0001", "name": "x", "sql": "CREATE TABLE a (i INT)", '
                                          '"sql": "DROP TABLE users"}')
    with pytest.raises(MigrationFileError, match=r"duplicate key 'sql'"):
        _load(tmp_path)


@pytest.mark.parametrize("field", ["id", "name", "sql"])
def test_a_json_migration_with_a_number_where_text_belongs_is_refused(tmp_path: Path, field: str) -> None:
    data: dict[str, object] = {"id": "0001", "name": "x", "sql": "CREATE TABLE a (i INT)"}
    data[field] = 1
    (tmp_path / "0001_x.json").write_text(json.dumps(data))
    with pytest.raises(MigrationFileError, match=f"field '{field}' must be a string"):
        _load(tmp_path)


def test_a_json_dependency_given_as_a_number_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_x.json").write_text(json.dumps({"id": "0001", "name": "x", "sql": "SELECT 1"}))
    (tmp_path / "0002_y.json").write_text(json.dumps({"id": "0002", "name": "y", "sql": "SELECT 1",
                                                      "dependencies": [1]}))
    with pytest.raises(MigrationFileError, match="must be a list of migration ids"):
        _load(tmp_path)


def test_ids_that_are_the_same_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.up.sql").write_text("CREATE TABLE a (i INT);")
    (tmp_path / "01_b.up.sql").write_text("CREATE TABLE b (i INT);")
    with pytest.raises(DuplicateMigrationError, match=r"'0001'.*'01'|'01'.*'0001'"):
        _load(tmp_path)


def test_migrate_up_with_an_empty_migration_changes_nothing(tmp_path: Path) -> None:
    from dbkeeper.cli.commands.migrate import migrate

    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_a.up.sql").write_text("CREATE TABLE a (i INT);")
    (directory / "0002_b.up.sql").write_text("-- nothing here\n")
    db = tmp_path / "app.db"
    result = CliRunner().invoke(migrate, ["up", "--db", f"sqlite:///{db}", "--dir", str(directory)])
    assert result.exit_code == 1 and "no SQL statement" in result.stderr
    tables = sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() if db.exists() else []
    assert tables == []


# -- lock timeouts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-5", "nan", "-0.5", "soon"])
def test_a_negative_or_not_a_number_lock_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    from dbkeeper.cli.commands.migrate import migrate

    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_a.up.sql").write_text("CREATE TABLE a (i INT);")
    db = tmp_path / "app.db"
    result = CliRunner().invoke(migrate, ["up", "--db", f"sqlite:///{db}", "--dir", str(directory),
                                          "--lock-timeout", value])
    assert result.exit_code == 2, result.output
    assert "lock-timeout" in result.stderr and "error:" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("value", [-5.0, float("nan")])
def test_the_library_refuses_a_bad_lock_timeout_before_taking_the_lock(tmp_path: Path, value: float) -> None:
    from dbkeeper.migrations.locking import FileLock

    with pytest.raises(ConfigurationError, match="lock timeout"):
        FileLock(tmp_path / "lock", "x", value)


# -- the lock holder's message names the user -------------------------------------------------------------------
def _lock_for(url: DatabaseURL) -> tuple[MigrationLock, DatabaseConnection]:
    connection = DatabaseConnection.from_url(url, name="locktest")
    lock = connection.dialect.migration_lock(connection, name="dbkeeper:holder_test", timeout=0.2)
    assert isinstance(lock, MigrationLock)
    return lock, connection


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_the_lock_holder_message_names_the_user(kind: str, request: pytest.FixtureRequest) -> None:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    first, c1 = _lock_for(url)
    second, c2 = _lock_for(url)
    try:
        with first, pytest.raises(MigrationLockError) as caught:
            second.acquire()
    finally:
        c1.disconnect()
        c2.disconnect()
    message = str(caught.value)
    expected_user = url.username if kind != "sqlite" else None
    held_by = message.split("held by ", 1)[1]
    assert held_by.startswith("user "), message
    if expected_user:
        assert held_by.startswith(f"user {expected_user}"), message


# -- prune --keep-last 0 ------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_backups(tmp_path: Path) -> tuple[str, Path]:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (i INTEGER)")
    conn.commit()
    conn.close()
    ws = tmp_path / "ws"
    manager = BackupManager(ws, f"sqlite:///{db}")
    for _ in range(2):
        assert manager.create_backup("app", f"sqlite:///{db}").success
    return str(ws), db


def test_prune_keep_last_zero_is_refused_and_deletes_nothing(sqlite_backups: tuple[str, Path]) -> None:
    ws, _ = sqlite_backups
    before = BackupManager(ws).get_backups()
    result = CliRunner().invoke(backup, ["prune", "--name", "app", "--keep-last", "0", "--workspace", ws])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and "keep-last" in result.stderr
    assert [b.backup_id for b in BackupManager(ws).get_backups()] == [b.backup_id for b in before]
    assert all(Path(b.file_path).exists() for b in before)


def test_the_library_refuses_a_policy_that_keeps_nothing(sqlite_backups: tuple[str, Path]) -> None:
    ws, _ = sqlite_backups
    manager = BackupManager(ws)
    for rules in ({"keep_last": 0}, {"keep_daily": 0, "keep_weekly": 0}):
        with pytest.raises(BackupError, match="keeps nothing"):
            manager.prune("app", **rules)  # type: ignore[arg-type]
    assert len(manager.get_backups()) == 2


# -- values the database would store wrongly ----------------------------------------------------------------------
def test_nan_into_sqlite_is_refused_and_nothing_is_stored(dbkeeper_sqlite_url: DatabaseURL) -> None:
    from dbkeeper.errors import QueryError

    conn = DatabaseConnection.from_url(dbkeeper_sqlite_url, name="nan")
    conn.connect()
    try:
        conn.execute("CREATE TABLE t (x REAL)")
        for sql, params in [("INSERT INTO t VALUES (?)", (float("nan"),)),
                            ("INSERT INTO t VALUES (:x)", {"x": float("nan")})]:
            with pytest.raises(QueryError, match="NaN"):
                conn.execute(sql, params)
        with pytest.raises(QueryError, match="NaN"):
            conn.execute_many("INSERT INTO t VALUES (?)", [(1.0,), (float("nan"),)])
        with pytest.raises(QueryError, match="NaN"), conn.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (?)", (2.0,))
            tx.execute("INSERT INTO t VALUES (?)", (float("nan"),))
        conn.execute("INSERT INTO t VALUES (?)", (float("inf"),))  # infinities round-trip: only NaN is lost
        assert conn.execute("SELECT x FROM t").rows == [{"x": float("inf")}]
    finally:
        conn.disconnect()


def test_an_aware_datetime_into_mysql_is_converted_to_the_session_time_zone(
        dbkeeper_mysql_url: DatabaseURL) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    conn = DatabaseConnection.from_url(dbkeeper_mysql_url, name="tz", connection_pool_size=1)
    conn.connect()
    try:
        conn.execute("SET time_zone = '+03:00'")
        conn.execute("CREATE TABLE t (d DATETIME(6))")
        aware = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=timezone(timedelta(hours=-4)))  # 16:30:15 UTC
        conn.execute("INSERT INTO t VALUES (?)", (aware,))
        conn.bulk_insert("t", [(aware.astimezone(UTC),)], ["d"])
        conn.execute("INSERT INTO t VALUES (?)", (datetime(2024, 5, 1, 1, 2, 3),))  # naive: stored as given
        rows = [r["d"] for r in conn.execute("SELECT d FROM t").rows]
        assert rows == [datetime(2024, 5, 1, 19, 30, 15, 250000), datetime(2024, 5, 1, 19, 30, 15, 250000),
                        datetime(2024, 5, 1, 1, 2, 3)]
        found = conn.execute("SELECT COUNT(*) AS n FROM t WHERE d = ?", (aware,)).scalar()
        assert found == 2
    finally:
        conn.disconnect()


def test_a_statement_over_max_allowed_packet_is_reported_as_such_and_not_retried(
        dbkeeper_mysql_url: DatabaseURL) -> None:
    from dbkeeper.errors import ConnectionLostError, QueryError

    conn = DatabaseConnection.from_url(dbkeeper_mysql_url, name="packet", connection_pool_size=1)
    conn.connect()
    try:
        limit = int(conn.execute("SELECT @@max_allowed_packet AS p").scalar())
        conn.execute("CREATE TABLE t (b LONGBLOB)")
        with pytest.raises(QueryError, match="max_allowed_packet") as caught:
            conn.execute("INSERT INTO t VALUES (?)", (b"\x01" * (limit + 10),))
        assert not isinstance(caught.value, ConnectionLostError)
        assert conn.reconnects == 0
        assert conn.execute("SELECT COUNT(*) AS n FROM t").scalar() == 0
    finally:
        conn.disconnect()
