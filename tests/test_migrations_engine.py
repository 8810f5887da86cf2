"""The migration engine against a real SQLite file, PostgreSQL and MariaDB: same tests, each dialect."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from dbkeeper.migrations import (
    ChecksumMismatchError,
    DependencyCycleError,
    DuplicateMigrationError,
    InvalidDirectionError,
    MigrationFileError,
    MigrationManager,
    MissingMigrationFileError,
    MissingRollbackError,
    RepairRequiredError,
    run_migrations,
)
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h

HISTORY = "dbkeeper_migrations"


@pytest.fixture(params=h.DIALECTS)
def db_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def basic(directory: Path) -> Path:
    return h.write_migrations(directory, {
        "0001_users": ("-- description: the users\nCREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50));\n"
                       "INSERT INTO users (id, name) VALUES (1, 'semi;colon');", "DROP TABLE users;"),
        "0002_posts": ("-- depends: 0001\nCREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);",
                       "DROP TABLE posts;"),
        "0003_tags": ("CREATE TABLE tags (id INTEGER PRIMARY KEY);", "DROP TABLE tags;"),
    })


def history(url: DatabaseURL, table: str = HISTORY) -> dict[str, dict[str, object]]:
    return {str(r["id"]): r for r in h.query(url, f"SELECT * FROM {table}")}


# -- up and history --------------------------------------------------------------------------------
def test_up_applies_in_order_and_records_who_what_and_how_long(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    result = run_migrations(directory, db_url)
    assert result["success"] is True
    assert [r["migration_id"] for r in result["results"]] == ["0001", "0002", "0003"]
    assert {"users", "posts", "tags", HISTORY} <= h.tables(db_url)
    rows = history(db_url)
    users = rows["0001"]
    assert users["name"] == "users"
    assert users["status"] == "applied"
    assert len(str(users["checksum"])) == 64
    assert users["statements_executed"] == 2 and users["statements_total"] == 2
    assert float(users["execution_time"]) > 0  # type: ignore[arg-type]
    assert users["applied_by"] and users["applied_host"] == socket.gethostname()
    assert users["applied_pid"] == os.getpid()
    assert users["rollback_sql"] == "DROP TABLE users;"
    assert users["error_message"] is None
    assert str(users["applied_at"]).startswith("20")
    assert [rows[i]["applied_order"] for i in ("0001", "0002", "0003")] == [1, 2, 3]
    assert h.query(db_url, "SELECT name FROM users") == [{"name": "semi;colon"}]


def test_a_second_up_has_nothing_to_do(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    run_migrations(directory, db_url)
    again = run_migrations(directory, db_url)
    assert again == {"direction": "up", "migrations_processed": 0, "successful": 0, "failed": 0, "success": True,
                     "results": []}


def test_up_to_a_target_stops_there(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    result = run_migrations(directory, db_url, target="0002")
    assert [r["migration_id"] for r in result["results"]] == ["0001", "0002"]
    assert "tags" not in h.tables(db_url)


def test_the_history_table_name_is_configurable(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    run_migrations(directory, db_url, table="schema_history")
    names = h.tables(db_url)
    assert "schema_history" in names and HISTORY not in names
    assert set(history(db_url, "schema_history")) == {"0001", "0002", "0003"}


# -- down ------------------------------------------------------------------------------------------
def test_down_rolls_back_the_latest_then_everything_after_a_target(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    run_migrations(directory, db_url)
    one = run_migrations(directory, db_url, "down")
    assert one["result"]["migration_id"] == "0003"
    assert "tags" not in h.tables(db_url)
    run_migrations(directory, db_url)
    to = run_migrations(directory, db_url, "down", target="0001")
    assert to["migrations_processed"] == 2 and to["success"] is True
    assert {"posts", "tags"}.isdisjoint(h.tables(db_url)) and "users" in h.tables(db_url)
    rows = history(db_url)
    assert [rows[i]["status"] for i in ("0001", "0002", "0003")] == ["applied", "rolled_back", "rolled_back"]


def test_a_migration_without_rollback_sql_stops_the_rollback_and_nothing_runs(tmp_path: Path,
                                                                               db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    (directory / "0002_posts.down.sql").unlink()
    run_migrations(directory, db_url)
    before = h.tables(db_url)
    with pytest.raises(MissingRollbackError, match=r"migration 0002 .*0002_posts\.up\.sql.* has no rollback SQL"):
        run_migrations(directory, db_url, "down", target="0001")
    assert h.tables(db_url) == before  # 0003 was not rolled back either
    assert history(db_url)["0003"]["status"] == "applied"


def test_down_with_nothing_applied_reports_no_result(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    assert run_migrations(directory, db_url, "down") == {
        "direction": "down", "migrations_processed": 0, "success": True, "result": None}


# -- the documented return shapes ------------------------------------------------------------------
def test_run_migrations_return_shapes_field_by_field(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    h.write_migrations(directory, {"0004_broken": ("SELECT * FROM no_such_table_anywhere;", None)})
    up = run_migrations(directory, db_url, "up")
    assert list(up) == ["direction", "migrations_processed", "successful", "failed", "success", "results"]
    assert up["direction"] == "up"
    assert up["migrations_processed"] == 4
    assert up["successful"] == 3
    assert up["failed"] == 1
    assert up["success"] is False
    assert len(up["results"]) == 4
    for item, ident in zip(up["results"], ["0001", "0002", "0003", "0004"], strict=True):
        assert list(item) == ["migration_id", "success", "execution_time", "error_message"]
        assert item["migration_id"] == ident
        assert isinstance(item["execution_time"], float) and item["execution_time"] >= 0
    assert [i["success"] for i in up["results"]] == [True, True, True, False]
    assert [i["error_message"] for i in up["results"][:3]] == [None, None, None]
    assert "no_such_table_anywhere" in up["results"][3]["error_message"]
    assert "statement 1 of 1" in up["results"][3]["error_message"]

    down = run_migrations(directory, db_url, "down")
    assert list(down) == ["direction", "migrations_processed", "success", "result"]
    assert down["direction"] == "down"
    assert down["migrations_processed"] == 1
    assert down["success"] is True
    assert list(down["result"]) == ["migration_id", "success", "execution_time", "error_message"]
    assert down["result"]["migration_id"] == "0003"
    assert down["result"]["success"] is True
    assert isinstance(down["result"]["execution_time"], float)
    assert down["result"]["error_message"] is None


@pytest.mark.parametrize("direction", ["sideways", "UP", "", "rollback"])
def test_an_unknown_direction_raises_before_anything_is_touched(tmp_path: Path, direction: str) -> None:
    url = DatabaseURL(scheme="sqlite", database=str(tmp_path / "never.db"))
    with pytest.raises(InvalidDirectionError, match=f"invalid migration direction {direction!r}"):
        run_migrations(tmp_path / "does-not-exist", url, direction)
    assert not (tmp_path / "never.db").exists()


# -- dry run ---------------------------------------------------------------------------------------
def test_dry_run_returns_the_exact_sql_in_order_and_changes_nothing(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    before = h.tables(db_url)
    with MigrationManager(tmp_path / "ws", db_url) as manager:
        manager.load_migrations_from_directory(directory)
        report = manager.upgrade(dry_run=True)
        single = manager.apply_migration("0001", dry_run=True)
    assert [(s.migration.id, s.statements) for s in report.steps] == [
        ("0001", ["-- description: the users\nCREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))",
                  "INSERT INTO users (id, name) VALUES (1, 'semi;colon')"]),
        ("0002", ["-- depends: 0001\nCREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER)"]),
        ("0003", ["CREATE TABLE tags (id INTEGER PRIMARY KEY)"]),
    ]
    assert report.results == []
    assert single.dry_run and single.success and len(single.statements) == 2
    assert h.tables(db_url) == before  # not even the history table


# -- errors before anything runs -------------------------------------------------------------------
@pytest.mark.parametrize(("files", "error", "message"), [
    ({"0001_a.up.sql": "-- depends: 0002\nCREATE TABLE a (x INT);",
      "0002_b.up.sql": "-- depends: 0001\nCREATE TABLE b (x INT);"}, DependencyCycleError, "dependency cycle"),
    ({"0001_a.up.sql": "CREATE TABLE a (x INT);", "0001_b.json": '{"id": "0001", "name": "b", "sql": "SELECT 1"}'},
     DuplicateMigrationError, r"0001_a\.up\.sql and .*0001_b\.json|0001_b\.json and .*0001_a\.up\.sql"),
    ({"0001_a.up.sql": "CREATE TABLE a (x INT);", "0002_b.json": '{"id": "0002", "name": "b", "sql": '},
     MigrationFileError, r"0002_b\.json is not valid JSON"),
    ({"0001_a.up.sql": "CREATE TABLE a (x INT);", "0002_b.up.sql": "-- depends: 0009\nSELECT 1;"},
     MigrationFileError, r"0002 \(.*0002_b\.up\.sql\) depends on '0009'"),
    ({"0001_a.up.sql": "CREATE TABLE a (x INT);\nCOMMIT;"}, MigrationFileError, "transaction control statement"),
])
def test_bad_files_raise_their_error_and_change_nothing(tmp_path: Path, db_url: DatabaseURL,
                                                        files: dict[str, str], error: type[Exception],
                                                        message: str) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    before = h.tables(db_url)
    with pytest.raises(error, match=message):
        run_migrations(directory, db_url)
    assert h.tables(db_url) == before


def test_drift_is_refused_with_the_file_and_both_checksums(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    run_migrations(directory, db_url, target="0002")
    old = history(db_url)["0002"]["checksum"]
    path = directory / "0002_posts.up.sql"
    path.write_text(path.read_text() + "\nCREATE TABLE sneaky (x INT);")
    with MigrationManager(tmp_path / "ws", db_url) as manager:
        manager.load_migrations_from_directory(directory)
        new = manager.migrations["0002"].checksum
        with pytest.raises(ChecksumMismatchError) as info:
            manager.apply_pending_migrations()
        text = str(info.value)
        assert str(path) in text and str(old) in text and new in text
        assert "tags" not in h.tables(db_url) and "sneaky" not in h.tables(db_url)
        status = {e.id: e.state for e in manager.status().entries}
        assert status == {"0001": "applied", "0002": "drifted", "0003": "pending"}

        message = manager.accept_checksum("0002")
        assert "accepted" in message
        row = history(db_url)["0002"]
        assert row["checksum"] == new
        (event,) = json.loads(str(row["audit"]))
        assert event["action"] == "accept-checksum" and event["from"] == old and event["to"] == new
        assert event["by"].endswith(f"(pid {os.getpid()})")
        assert [r.success for r in manager.apply_pending_migrations()] == [True]
        assert "sneaky" not in h.tables(db_url)  # accepting records the change; it does not run it


def test_an_applied_migration_whose_file_is_gone_is_refused(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    run_migrations(directory, db_url)
    (directory / "0003_tags.up.sql").unlink()
    (directory / "0003_tags.down.sql").unlink()
    h.write_migrations(directory, {"0004_next": ("CREATE TABLE next_one (x INTEGER);", "DROP TABLE next_one;")})
    with pytest.raises(MissingMigrationFileError, match=r"migration\(s\) 0003 as applied, but no file"):
        run_migrations(directory, db_url)
    assert "next_one" not in h.tables(db_url)
    with MigrationManager(tmp_path / "ws", db_url) as manager:
        manager.load_migrations_from_directory(directory)
        migrator = manager.migrator()
        migrator.allow_missing = True
        assert [r.migration_id for r in migrator.up().results] == ["0004"]
        assert [r.migration_id for r in migrator.down(target="0002").results] == ["0004", "0003"]
    assert "tags" not in h.tables(db_url)  # rolled back with the recorded rollback SQL


# -- failures --------------------------------------------------------------------------------------
FAILING = ("CREATE TABLE a (x INTEGER);\nINSERT INTO a (x) VALUES (1);\nCREATE TABLE b (x INTEGER);\n"
           "INSERT INTO missing_table (x) VALUES (1);")


def test_a_failure_after_statement_k_leaves_the_outcome_the_dialect_can_guarantee(tmp_path: Path,
                                                                                   db_url: DatabaseURL) -> None:
    directory = h.write_migrations(tmp_path / "m", {
        "0001_ok": ("CREATE TABLE ok (x INTEGER);", "DROP TABLE ok;"),
        "0002_fails": (FAILING, "DROP TABLE b;\nDROP TABLE a;"),
        "0003_later": ("CREATE TABLE later (x INTEGER);", "DROP TABLE later;"),
    })
    result = run_migrations(directory, db_url)
    assert [r["success"] for r in result["results"]] == [True, False]
    assert "statement 4 of 4" in result["results"][1]["error_message"]
    row = history(db_url)["0002"]
    assert row["status"] == "failed" and row["failed_statement"] == 4
    assert "missing_table" in str(row["error_message"])

    if h.dialect_name(db_url) in ("sqlite", "postgres"):
        # one transaction: no trace of statements 1-3; the next run simply tries again
        assert {"a", "b"}.isdisjoint(h.tables(db_url))
        assert row["statements_executed"] == 0
        again = run_migrations(directory, db_url)
        assert [r["success"] for r in again["results"]] == [False]
        h.query(db_url, "CREATE TABLE missing_table (x INTEGER)")
        fixed = run_migrations(directory, db_url)
        assert [r["success"] for r in fixed["results"]] == [True, True]
        assert h.query(db_url, "SELECT x FROM a") == [{"x": 1}]
    else:
        # MySQL commits DDL implicitly: statements 1-3 stay, recorded; the next run refuses until repair
        assert {"a", "b"} <= h.tables(db_url)
        assert row["statements_executed"] == 3
        with pytest.raises(RepairRequiredError, match=r"0002 failed .*statement 4 of 4.*repair 0002 --retry"):
            run_migrations(directory, db_url)
        assert "later" not in h.tables(db_url)
        h.query(db_url, "CREATE TABLE missing_table (x INTEGER)")
        with MigrationManager(tmp_path / "ws", db_url) as manager:
            manager.load_migrations_from_directory(directory)
            assert "from statement 4 of 4" in manager.repair("0002", "retry")
        assert h.query(db_url, "SELECT x FROM a") == [{"x": 1}]  # statement 2 did not run twice
        assert run_migrations(directory, db_url)["successful"] == 1
    assert history(db_url)["0002"]["status"] == "applied"
    assert "later" in h.tables(db_url)


def test_a_failing_ddl_only_migration_names_its_statement_and_leaves_no_trace(tmp_path: Path,
                                                                              db_url: DatabaseURL) -> None:
    # plain DDL takes PostgreSQL's one-round-trip path; its failure must still be attributed and recorded
    directory = h.write_migrations(tmp_path / "m", {
        "0001_ddl": ("CREATE TABLE first_one (x INTEGER);\nCREATE TABLE second_one (x INTEGER);\n"
                     "CREATE TABLE first_one (x INTEGER);", None),
    })
    result = run_migrations(directory, db_url)
    assert result["success"] is False
    assert "statement 3 of 3" in result["results"][0]["error_message"]
    row = history(db_url)["0001"]
    assert row["status"] == "failed" and row["failed_statement"] == 3
    if h.dialect_name(db_url) != "mysql":
        assert {"first_one", "second_one"}.isdisjoint(h.tables(db_url))


@pytest.mark.postgres
def test_postgres_history_values_survive_inlining_whatever_they_contain(tmp_path: Path,
                                                                        dbkeeper_postgres_url: DatabaseURL) -> None:
    url = dbkeeper_postgres_url
    nasty = "it's $dbk$ a \\ $$ name $dbk"
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "0001_x.json").write_text(json.dumps({
        "id": "0001", "name": nasty, "sql": "CREATE TABLE plain (x INTEGER);", "rollback_sql": nasty + "';--"}))
    assert run_migrations(directory, url)["success"]
    row = history(url)["0001"]
    assert row["name"] == nasty and row["rollback_sql"] == nasty + "';--"
    assert row["run_mode"] == "transaction" and float(row["execution_time"]) > 0  # type: ignore[arg-type]


@pytest.mark.postgres
def test_postgres_relaxed_commits_stay_inside_each_migration(tmp_path: Path,
                                                             dbkeeper_postgres_url: DatabaseURL) -> None:
    from dbkeeper.engine.connection import DatabaseConnection

    directory = h.write_migrations(tmp_path / "m", {
        f"000{i}_t": (f"CREATE TABLE t{i} (x INTEGER);", None) for i in range(1, 4)})
    h.write_migrations(directory, {"0004_dml": ("CREATE TABLE t4 (x INTEGER);\nINSERT INTO t4 VALUES (1);", None)})
    connection = DatabaseConnection.from_url(dbkeeper_postgres_url, pool_size=1).connect()
    try:
        assert run_migrations(directory, connection)["successful"] == 4
        assert connection.execute("SHOW synchronous_commit").scalar() == "on"
    finally:
        connection.disconnect()


@pytest.mark.mysql
def test_mysql_a_failed_migration_can_be_resolved_by_hand(tmp_path: Path, dbkeeper_mysql_url: DatabaseURL) -> None:
    url = dbkeeper_mysql_url
    directory = h.write_migrations(tmp_path / "m", {"0001_fails": (FAILING, None)})
    assert run_migrations(directory, url)["failed"] == 1
    with MigrationManager(tmp_path / "ws", url) as manager:
        manager.load_migrations_from_directory(directory)
        assert manager.get_migration_state("0001") == "failed"
        assert "marked 0001 as applied" in manager.repair("0001", "resolve")
        assert manager.get_migration_state("0001") == "applied"
    row = history(url)["0001"]
    assert json.loads(str(row["audit"]))[0]["action"] == "resolve"


def test_a_failed_rollback_keeps_the_migration_applied_where_it_was_atomic(tmp_path: Path,
                                                                           db_url: DatabaseURL) -> None:
    directory = h.write_migrations(tmp_path / "m", {
        "0001_t": ("CREATE TABLE t (x INTEGER);", "INSERT INTO t (x) VALUES (1);\nDROP TABLE nope_missing;"),
    })
    run_migrations(directory, db_url)
    down = run_migrations(directory, db_url, "down")
    assert down["success"] is False and "statement 2 of 2" in down["result"]["error_message"]
    if h.dialect_name(db_url) == "mysql":
        with pytest.raises(RepairRequiredError):
            run_migrations(directory, db_url, "down")
    else:
        assert history(db_url)["0001"]["status"] == "applied"
        assert h.query(db_url, "SELECT COUNT(*) AS n FROM t") == [{"n": 0}]


# -- statements that cannot run in a transaction ---------------------------------------------------
@pytest.mark.postgres
def test_postgres_create_index_concurrently_runs_outside_the_transaction(tmp_path: Path,
                                                                         dbkeeper_postgres_url: DatabaseURL) -> None:
    url = dbkeeper_postgres_url
    directory = h.write_migrations(tmp_path / "m", {
        "0001_t": ("CREATE TABLE t (x INTEGER);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n"
                   "CREATE TYPE mood AS ENUM ('ok');\nALTER TYPE mood ADD VALUE 'great';\n"
                   "CREATE TABLE feelings (m mood DEFAULT 'great');", "DROP INDEX CONCURRENTLY t_x;"),
    })
    result = run_migrations(directory, url)
    assert result["success"], result
    row = history(url)["0001"]
    assert row["run_mode"] == "statements" and row["statements_executed"] == 5
    assert h.query(url, "SELECT indexname FROM pg_indexes WHERE tablename = 't'") == [{"indexname": "t_x"}]
    assert run_migrations(directory, url, "down")["success"]


@pytest.mark.postgres
def test_postgres_a_search_path_change_cannot_redirect_the_history(tmp_path: Path,
                                                                    dbkeeper_postgres_url: DatabaseURL) -> None:
    url = dbkeeper_postgres_url
    directory = h.write_migrations(tmp_path / "m", {
        "0001_schema": ("CREATE SCHEMA other;\nSET search_path TO other;\nCREATE TABLE inside (x INTEGER);", None),
        "0002_more": ("CREATE TABLE more_inside (x INTEGER);", None),
    })
    assert run_migrations(directory, url)["success"]
    assert set(history(url)) == {"0001", "0002"}
    assert h.query(url, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'dbkeeper_migrations'") == [{"n": 1}]


def test_sqlite_vacuum_and_foreign_key_pragmas_run_outside_the_transaction(tmp_path: Path,
                                                                          dbkeeper_sqlite_url: DatabaseURL) -> None:
    url = dbkeeper_sqlite_url
    directory = h.write_migrations(tmp_path / "m", {
        "0001_parent": ("CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
                        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));\n"
                        "INSERT INTO parent (id) VALUES (1);\nINSERT INTO child (id, parent_id) VALUES (1, 1);", None),
        "0002_rebuild": ("PRAGMA foreign_keys = OFF;\nCREATE TABLE parent_new (id INTEGER PRIMARY KEY, note TEXT);\n"
                         "INSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\n"
                         "ALTER TABLE parent_new RENAME TO parent;\nPRAGMA foreign_keys = ON;\nVACUUM;", None),
    })
    result = run_migrations(directory, url)
    assert result["success"], result
    assert history(url)["0002"]["run_mode"] == "statements"
    assert h.query(url, "SELECT parent_id FROM child") == [{"parent_id": 1}]


# -- baseline and status ---------------------------------------------------------------------------
def test_baseline_marks_migrations_applied_without_running_them(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    h.query(db_url, "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))")
    with MigrationManager(tmp_path / "ws", db_url) as manager:
        manager.load_migrations_from_directory(directory)
        assert manager.baseline("0001") == ["0001"]
        assert [m.status for m in manager.get_migrations()] == ["applied", "pending", "pending"]
        results = manager.apply_pending_migrations()
    assert [r.migration_id for r in results] == ["0002", "0003"]
    assert h.query(db_url, "SELECT COUNT(*) AS n FROM users") == [{"n": 0}]  # 0001's INSERT never ran
    row = history(db_url)["0001"]
    assert row["run_mode"] == "baseline" and json.loads(str(row["audit"]))[0]["action"] == "baseline"


def test_status_reports_applied_pending_failed_drifted_and_missing(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = basic(tmp_path / "m")
    h.write_migrations(directory, {"0004_bad": ("SELECT * FROM absent_table;", None)})
    run_migrations(directory, db_url, target="0002")
    with MigrationManager(tmp_path / "ws", db_url) as manager:
        manager.load_migrations_from_directory(directory)
        manager.apply_migration("0003")
        assert manager.apply_migration("0004").success is False
        (directory / "0002_posts.up.sql").write_text("CREATE TABLE posts2 (id INTEGER);")
        (directory / "0003_tags.up.sql").unlink()
        (directory / "0003_tags.down.sql").unlink()
        h.write_migrations(directory, {"0005_new": ("SELECT 1;", None)})
        manager.load_migrations_from_directory(directory)
        report = manager.status()
        states = {e.id: e.state for e in report.entries}
        assert states == {"0001": "applied", "0002": "drifted", "0004": "failed", "0005": "pending",
                          "0003": "missing"}
        assert {e.id for e in report.problems} == {"0002", "0003"}
        assert manager.get_migration_state("0004") == "failed"
        assert manager.get_migration_state("0005") == "pending"


@pytest.mark.slow
def test_status_of_ten_thousand_applied_migrations_reads_the_history_in_one_query(
        tmp_path: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    # How long it takes is benchmarks/bench_migrate.py's business (status of 10,000 within 1 s); this test
    # pins down why it is fast: one query, whatever the history's length.
    directory = tmp_path / "m"
    directory.mkdir()
    for i in range(1, 10_001):
        (directory / f"{i:05d}_t{i}.up.sql").write_text(f"CREATE TABLE t{i} (x INTEGER);")
    with MigrationManager(tmp_path / "ws", dbkeeper_sqlite_url) as manager:
        manager.load_migrations_from_directory(directory)
        assert len(manager.baseline()) == 10_000
        connection = manager.connection()
        before = connection.queries_executed
        report = manager.status()
        queries = connection.queries_executed - before
    assert report.counts["applied"] == 10_000
    assert queries <= 2, f"status ran {queries} queries; it must read the history in one"  # exists + read
    assert all(entry.state == "applied" for entry in report.entries) and not report.problems


# -- the seed API ----------------------------------------------------------------------------------
def test_migration_manager_seed_api(tmp_path: Path, db_url: DatabaseURL) -> None:
    manager = MigrationManager(workspace_dir=tmp_path / "ws")
    manager.set_database_url(db_url)
    first = manager.create_migration("create accounts", "accounts table",
                                     "CREATE TABLE accounts (id INTEGER PRIMARY KEY);", "DROP TABLE accounts;")
    second = manager.create_migration("add ledger", "ledger", "CREATE TABLE ledger (id INTEGER PRIMARY KEY);",
                                      "DROP TABLE ledger;", dependencies=[first.id])
    assert (first.id, second.id) == ("0001", "0002")
    assert first.source is not None and first.source.parent == tmp_path / "ws" / "migrations"
    assert json.loads(first.source.read_text())["sql"] == first.sql
    assert [m.id for m in manager.get_pending_migrations()] == ["0001", "0002"]
    assert manager.get_migration_state("0001") == "pending"

    applied = manager.apply_migration("0001")
    assert applied.success and applied.statements_executed == 1 and applied.migration_id == "0001"
    assert manager.get_migration_state("0001") == "applied"
    assert [r.migration_id for r in manager.apply_pending_migrations()] == ["0002"]
    listed = manager.get_migrations()
    assert [(m.id, m.status) for m in listed] == [("0001", "applied"), ("0002", "applied")]
    assert all(m.applied_at is not None for m in listed)

    rolled = manager.rollback_migration("0002")
    assert rolled.success and rolled.direction == "down"
    assert manager.get_migration_state("0002") == "rolled_back"
    assert "ledger" not in h.tables(db_url)
    manager.close()

    reloaded = MigrationManager(tmp_path / "ws2", db_url)
    assert [m.id for m in reloaded.load_migrations_from_directory(tmp_path / "ws" / "migrations")] == ["0001", "0002"]
    assert [m.status for m in reloaded.get_migrations()] == ["applied", "rolled_back"]
    reloaded.close()


def test_history_rows_read_back_exactly_whatever_their_text(db_url: DatabaseURL) -> None:
    # MySQL reads the history as one JSON array per row (Dialect.packed_row_sql); every value must survive it.
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.migrations.history import HistoryRow, HistoryTable

    awkward = "quote ' double \" backslash \\ newline \n tab \t unicode Grüße 🚀 json [1, {\"a\": null}]"
    values = {"id": "0001", "name": awkward, "checksum": "ab" * 32, "status": "failed", "direction": "up",
              "run_mode": "statement", "applied_order": 7, "applied_at": "2026-11-30T12:00:00.123456+00:00",
              "execution_time": 0.1 + 0.2, "statements_executed": 2, "statements_total": 3,
              "failed_statement": 3, "current_statement": None, "applied_by": "ünïcode", "applied_host": None,
              "applied_pid": 2**31 - 1, "error_message": awkward * 3}
    with DatabaseConnection.from_url(db_url, pool_size=1) as connection:
        history = HistoryTable(connection, "dbkeeper_history_text")
        history.create()
        history.insert(connection, {**values, "rollback_sql": awkward, "audit": None})
        history.insert(connection, {**values, "id": "0002", "execution_time": None, "failed_statement": None,
                                    "error_message": None, "rollback_sql": None, "audit": None})
        rows = history.read()
    assert rows["0001"] == HistoryRow(**values)
    assert rows["0002"] == HistoryRow(**{**values, "id": "0002", "execution_time": None, "failed_statement": None,
                                         "error_message": None})
