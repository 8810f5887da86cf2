"""The database-management API (seeds/000), call for call as the document writes it.

Every documented function, method, data class field and return shape is
exercised here as ported code would use it (only the import line changed:
``codomyrmex.database_management`` -> ``dbkeeper``), on SQLite and, where
the document allows a URL, on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import dbkeeper
from dbkeeper import (
    Backup,
    BackupManager,
    BackupResult,
    DatabaseConnection,
    DatabaseManager,
    DatabaseMetrics,
    DatabasePerformanceMonitor,
    DatabaseType,
    Migration,
    MigrationManager,
    MigrationResult,
    QueryResult,
    SchemaColumn,
    SchemaDefinition,
    SchemaGenerator,
    SchemaMigration,
    SchemaTable,
    backup_database,
    generate_schema,
    manage_databases,
    monitor_database,
    optimize_database,
    run_migrations,
)
from dbkeeper.exceptions import CodomyrmexError
from dbkeeper.urls import DatabaseURL

REQUIRED = inspect.Parameter.empty

# (callable, [(documented parameter, documented default or REQUIRED), ...]) straight from the document.
SIGNATURES: list[tuple[Any, list[tuple[str, Any]]]] = [
    (manage_databases, [("database_url", None)]),
    (run_migrations, [("migration_dir", REQUIRED), ("database_url", REQUIRED), ("direction", "up")]),
    (backup_database, [("database_name", REQUIRED), ("database_url", None), ("backup_type", "full"),
                       ("compression", "gzip")]),
    (monitor_database, [("database_name", REQUIRED), ("workspace_dir", None)]),
    (optimize_database, [("database_name", REQUIRED), ("workspace_dir", None)]),
    (generate_schema, [("models", REQUIRED), ("output_dir", REQUIRED)]),
    (DatabaseManager.__init__, [("database_url", None)]),
    (DatabaseManager.add_connection, [("connection", REQUIRED)]),
    (DatabaseManager.remove_connection, [("name", REQUIRED)]),
    (DatabaseManager.get_connection, [("name", REQUIRED)]),
    (DatabaseManager.list_connections, []),
    (DatabaseManager.connect_all, []),
    (DatabaseManager.disconnect_all, []),
    (DatabaseManager.execute_query, [("name", REQUIRED), ("query", REQUIRED), ("params", None)]),
    (DatabaseManager.health_check_all, []),
    (DatabaseManager.get_database_stats, []),
    (DatabaseManager.connect, [("database_url", None)]),
    (DatabaseManager.disconnect, [("connection_id", None)]),
    (DatabaseManager.execute, [("query", REQUIRED), ("params", None)]),
    (DatabaseManager.execute_many, [("query", REQUIRED), ("params_list", REQUIRED)]),
    (DatabaseManager.transaction, []),
    (DatabaseManager.get_tables, []),
    (DatabaseManager.get_table_info, [("table_name", REQUIRED)]),
    (MigrationManager.__init__, [("workspace_dir", None), ("database_url", None)]),
    (MigrationManager.set_database_url, [("database_url", REQUIRED)]),
    (MigrationManager.load_migrations_from_directory, []),
    (MigrationManager.create_migration, [("name", REQUIRED), ("description", REQUIRED), ("sql", REQUIRED),
                                         ("rollback_sql", None), ("dependencies", None)]),
    (MigrationManager.apply_migration, [("migration_id", REQUIRED), ("dry_run", False)]),
    (MigrationManager.rollback_migration, [("migration_id", REQUIRED)]),
    (MigrationManager.get_migration_status, [("migration_id", REQUIRED)]),
    (MigrationManager.list_migrations, []),
    (MigrationManager.get_pending_migrations, []),
    (MigrationManager.apply_pending_migrations, []),
    (MigrationManager.close, []),
    (BackupManager.__init__, [("workspace_dir", None), ("database_url", None)]),
    (BackupManager.create_backup, [("database_name", REQUIRED), ("database_url", None), ("backup_type", "full"),
                                   ("compression", "gzip"), ("include_schema", True), ("include_data", True)]),
    (BackupManager.list_backups, [("database_name", None)]),
    (BackupManager.delete_backup, [("backup_id", REQUIRED)]),
    (SchemaGenerator.__init__, [("workspace_dir", None), ("dialect", "sqlite")]),
    (SchemaGenerator.create_table, [("table", REQUIRED)]),
    (SchemaGenerator.create_table_from_dict, [("table_def", REQUIRED)]),
    (SchemaGenerator.generate_migration, [("name", REQUIRED), ("description", REQUIRED), ("changes", REQUIRED)]),
    (SchemaGenerator.compare_schemas, [("current_schema", REQUIRED), ("target_schema", REQUIRED)]),
    (SchemaGenerator.get_schema_drift_report, [("current_schema", REQUIRED), ("target_schema", REQUIRED)]),
    (SchemaGenerator.generate_schema_sql, [("schema_name", REQUIRED), ("version", "1.0.0")]),
    (SchemaGenerator.export_schema, [("output_path", REQUIRED), ("format", "sql")]),
    (SchemaGenerator.list_migrations, []),
    (SchemaDefinition.to_sql, [("dialect", REQUIRED)]),
    (SchemaDefinition.to_dict, []),
    (DatabaseConnection.get_connection_string, []),
    (DatabaseConnection.connect, []),
    (DatabaseConnection.disconnect, []),
    (DatabaseConnection.execute_query, [("query", REQUIRED), ("params", None)]),
    (DatabaseConnection.get_database_info, []),
    (DatabaseConnection.health_check, []),
    (DatabasePerformanceMonitor.analyze_database_performance, [("database_name", REQUIRED)]),
    (DatabasePerformanceMonitor.get_performance_report, [("database_name", REQUIRED)]),
]


@pytest.mark.parametrize(("function", "documented"), SIGNATURES,
                         ids=[getattr(f, "__qualname__", str(f)) for f, _ in SIGNATURES])
def test_every_documented_signature_accepts_the_documented_call(function: Any,
                                                                documented: list[tuple[str, Any]]) -> None:
    """Documented parameters come first, in order, with the documented defaults; anything else is optional."""
    parameters = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert [p.name for p in positional[: len(documented)]] == [name for name, _ in documented]
    for parameter, (_, default) in zip(positional, documented, strict=False):
        if default is not REQUIRED:
            assert parameter.default == default, parameter.name
    for extra in parameters[len(documented):]:
        assert extra.default is not REQUIRED or extra.kind in (extra.VAR_POSITIONAL, extra.VAR_KEYWORD), extra.name


def _fields(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.init:
            out[f.name] = (f.default if f.default is not dataclasses.MISSING else
                           ("factory", f.default_factory()) if f.default_factory is not dataclasses.MISSING
                           else REQUIRED)
    return out


# (data class, documented fields in order, {field: documented default}) from the document.
DATACLASSES: list[tuple[type, list[str], dict[str, Any]]] = [
    (DatabaseConnection, ["name", "db_type", "database", "host", "port", "username", "password", "ssl_mode",
                          "connection_pool_size", "connection_timeout", "max_retries", "connection_string",
                          "created_at"],
     {"host": "localhost", "port": 5432, "username": "postgres", "password": "", "ssl_mode": "prefer",
      "connection_pool_size": 10, "connection_timeout": 30, "max_retries": 3, "connection_string": None}),
    (Migration, ["id", "name", "description", "sql", "rollback_sql", "dependencies", "created_at", "applied_at",
                 "status", "checksum"],
     {"rollback_sql": None, "applied_at": None, "status": "pending", "checksum": ""}),
    (MigrationResult, ["migration_id", "success", "execution_time", "error_message", "rows_affected",
                       "statements_executed"],
     {"error_message": None, "rows_affected": 0, "statements_executed": 0}),
    (Backup, ["backup_id", "database_name", "database_type", "backup_type", "file_path", "size_mb", "created_at",
              "compression", "encryption", "checksum", "metadata"],
     {"compression": "none", "encryption": False, "checksum": None}),
    (BackupResult, ["backup_id", "success", "duration", "file_size_mb", "error_message", "warnings", "checksum"],
     {"error_message": None, "checksum": None}),
    (DatabaseMetrics, ["database_name", "timestamp", "connections_active", "connections_idle",
                       "queries_per_second", "average_query_time_ms", "cache_hit_ratio", "disk_io_mb"], {}),
    (SchemaDefinition, ["name", "version", "tables", "created_at"], {}),
]


@pytest.mark.parametrize(("cls", "names", "defaults"), DATACLASSES, ids=[c.__name__ for c, _, _ in DATACLASSES])
def test_every_documented_dataclass_field_and_default(cls: type, names: list[str], defaults: dict[str, Any]) -> None:
    fields = _fields(cls)
    assert list(fields)[: len(names)] == names
    for name, default in defaults.items():
        assert fields[name] == default, name
    for list_field in ("dependencies", "warnings", "metadata", "tables"):
        if list_field in names:
            assert fields[list_field][0] == "factory" and not fields[list_field][1]
    extra = list(fields)[len(names):]
    assert all(fields[name] is not REQUIRED for name in extra), extra


def test_documented_data_classes_build_with_the_documented_arguments() -> None:
    connection = DatabaseConnection(name="main", db_type=DatabaseType.POSTGRESQL, database="app")
    assert isinstance(connection.created_at, datetime)
    assert connection.get_connection_string() == "postgresql://postgres@localhost:5432/app"
    migration = Migration(id="001", name="users", description="users table", sql="CREATE TABLE u (id INT)")
    assert len(migration.checksum) == 64 and migration.status == "pending" and migration.dependencies == []
    result = MigrationResult(migration_id="001", success=True, execution_time=0.5)
    assert (result.error_message, result.rows_affected, result.statements_executed) == (None, 0, 0)
    backup = Backup(backup_id="b1", database_name="app", database_type="sqlite", backup_type="full",
                    file_path="/x", size_mb=1.0, created_at=datetime.now())
    assert (backup.compression, backup.encryption, backup.checksum, backup.metadata) == ("none", False, None, {})
    outcome = BackupResult(backup_id="b1", success=True, duration=1.0, file_size_mb=2.0)
    assert (outcome.error_message, outcome.warnings, outcome.checksum) == (None, [], None)
    metrics = DatabaseMetrics(database_name="app", timestamp=datetime.now(), connections_active=1,
                              connections_idle=2, queries_per_second=3.0, average_query_time_ms=4.0,
                              cache_hit_ratio=0.9, disk_io_mb=5.0)
    assert metrics.to_dict()["connections_idle"] == 2
    schema = SchemaDefinition(name="app", version="1.0.0")
    assert schema.tables == [] and isinstance(schema.created_at, datetime)
    assert DatabaseType.MONGODB.value == "mongodb" and DatabaseType.CUSTOM.value == "custom"


def test_codomyrmex_error_is_the_base_of_every_error(in_tmp: Path) -> None:
    assert dbkeeper.CodomyrmexError is CodomyrmexError is dbkeeper.DbKeeperError
    for error_class in (dbkeeper.MigrationError, dbkeeper.BackupError, dbkeeper.SchemaError, dbkeeper.QueryError,
                        dbkeeper.ConnectionError, dbkeeper.ConfigurationError):
        assert issubclass(error_class, CodomyrmexError)
    failures = [
        lambda: manage_databases("nosuchdb://x/y"),
        lambda: run_migrations("migrations/", "sqlite:///app.db", direction="sideways"),
        lambda: backup_database("nowhere"),
        lambda: generate_schema([object()], "out"),
        lambda: manage_databases("sqlite:///app.db").execute("SELECT * FROM missing_table"),
    ]
    for failure in failures:
        with pytest.raises(CodomyrmexError):
            failure()


# -- the document's examples, as written ------------------------------------------------------------------
def test_example_manage_databases_runs_as_written(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with manage_databases("sqlite:///app.db") as setup:
        setup.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, active BOOLEAN)")
        setup.execute_many("INSERT INTO users (name, active) VALUES (?, ?)", [("ann", True), ("bob", False)])

    from dbkeeper import manage_databases as imported  # the example's import line

    # Create a database manager with auto-connect
    manager = imported("sqlite:///app.db")
    # Execute queries
    result = manager.execute("SELECT * FROM users WHERE active = ?", (True,))
    print(f"Found {result.row_count} active users")
    # Clean up
    manager.disconnect()
    assert capsys.readouterr().out == "Found 1 active users\n"
    assert isinstance(result, QueryResult) and result.rows[0]["name"] == "ann"


def _write_migrations(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    files = {
        "001_users.json": {"id": "001", "name": "users", "description": "users table",
                           "sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))",
                           "rollback_sql": "DROP TABLE users"},
        "002_orders.json": {"id": "002", "name": "orders", "description": "orders table",
                            "sql": "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER)",
                            "rollback_sql": "DROP TABLE orders", "dependencies": ["001"]},
    }
    for name, body in files.items():
        (directory / name).write_text(json.dumps(body))


def test_example_run_migrations_runs_as_written(in_tmp: Path) -> None:
    _write_migrations(in_tmp / "migrations")
    from dbkeeper import run_migrations as imported  # the example's import line

    # Run database migrations
    result = imported(
        migration_dir="migrations/",
        database_url="sqlite:///app.db",
        direction="up"
    )
    assert result["success"] and result["successful"] == 2
    assert {"orders", "users"} <= set(DatabaseManager("sqlite:///app.db").get_tables())


def test_run_migrations_return_shapes_up_and_down(in_tmp: Path, seed_url_text: str) -> None:
    _write_migrations(in_tmp / "migrations")
    up = run_migrations("migrations/", seed_url_text, "up")
    assert set(up) == {"direction", "migrations_processed", "successful", "failed", "success", "results"}
    assert (up["direction"], up["migrations_processed"], up["successful"], up["failed"], up["success"]) == \
        ("up", 2, 2, 0, True)
    for item in up["results"]:
        assert set(item) == {"migration_id", "success", "execution_time", "error_message"}
        assert isinstance(item["execution_time"], float) and item["error_message"] is None
    assert [r["migration_id"] for r in up["results"]] == ["001", "002"]
    down = run_migrations("migrations/", seed_url_text, direction="down")
    assert set(down) == {"direction", "migrations_processed", "success", "result"}
    assert (down["direction"], down["migrations_processed"], down["success"]) == ("down", 1, True)
    assert set(down["result"]) == {"migration_id", "success", "execution_time", "error_message"}
    assert down["result"]["migration_id"] == "002"
    with manage_databases(seed_url_text) as manager:
        tables = manager.get_tables()
        assert "orders" not in tables and "users" in tables


def test_example_monitor_and_optimize_run_as_written(in_tmp: Path) -> None:
    from dbkeeper import monitor_database as monitor
    from dbkeeper import optimize_database as optimize

    # Monitor database performance
    metrics = monitor("my_database", workspace_dir="./perf_data")
    # Generate optimization report
    report = optimize("my_database", workspace_dir="./perf_data")
    assert metrics["database_name"] == "my_database" and metrics["metrics"] is None
    assert {"query_performance", "database_performance", "alerts", "recommendations"} <= set(report)
    # nothing knows "my_database": the report says exactly what to add
    assert "[connections.my_database]" in report["unavailable"]["recommendations"]
    assert "DBKEEPER_URL" in report["unavailable"]["recommendations"]


# -- monitor/optimize by name only -------------------------------------------------------------------------
def _some_workload(url: str) -> None:
    with manage_databases(url) as manager:
        manager.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total INTEGER)")
        manager.execute_many("INSERT INTO orders (id, customer, total) VALUES (?, ?, ?)",
                             [(i, i % 50, i) for i in range(1, 301)])
        for customer in range(20):
            manager.execute("SELECT * FROM orders WHERE customer = ?", (customer,))


def _assert_live_report(report: dict[str, Any], metrics: dict[str, Any]) -> None:
    assert "recommendations" not in report.get("unavailable", {}), report.get("unavailable")
    assert report["database_performance"]["native"], "no native statistics: the database was not reached"
    assert report["query_performance"]["samples"] > 0
    assert isinstance(report["recommendations"], list)
    assert metrics["native"] and "native" not in metrics.get("unavailable", {})


def test_optimize_and_monitor_by_name_from_dbkeeper_toml(in_tmp: Path, seed_url: DatabaseURL,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "dbkeeper.toml").write_text(f'[connections.shop]\nurl = "{seed_url.render(hide_password=False)}"\n')
    with DatabaseManager() as manager:
        manager.connect(seed_url, name="shop")
        _some_workload_on(manager)
    monkeypatch.setattr("dbkeeper.monitoring.known_databases.read_known", lambda workspace: {})
    report = optimize_database("shop")
    _assert_live_report(report, monitor_database("shop"))


def _some_workload_on(manager: DatabaseManager) -> None:
    manager.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total INTEGER)")
    manager.execute_many("INSERT INTO orders (id, customer, total) VALUES (?, ?, ?)",
                         [(i, i % 50, i) for i in range(1, 301)])
    for customer in range(20):
        manager.execute("SELECT * FROM orders WHERE customer = ?", (customer,))


def test_optimize_and_monitor_by_name_from_the_url_recorded_in_the_workspace(in_tmp: Path,
                                                                             seed_url: DatabaseURL) -> None:
    with DatabaseManager() as manager:
        manager.connect(seed_url, name="shop")
        _some_workload_on(manager)
    recorded = in_tmp / "workspace" / "known_databases.json"
    assert (recorded.stat().st_mode & 0o777) == 0o600
    stored = json.loads(recorded.read_text())["shop"]
    assert DatabaseURL.parse(stored).password is None
    if seed_url.password:
        assert seed_url.password not in recorded.read_text()
    _assert_live_report(optimize_database("shop"), monitor_database("shop"))


def test_optimize_by_name_from_dbkeeper_url(in_tmp: Path, seed_url: DatabaseURL,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    name = dbkeeper.config.default_connection_name(seed_url)  # type: ignore[attr-defined]
    with DatabaseManager() as manager:
        manager.connect(seed_url)
        _some_workload_on(manager)
    (in_tmp / "workspace" / "known_databases.json").unlink()
    monkeypatch.setenv("DBKEEPER_URL", seed_url.render(hide_password=False))
    _assert_live_report(optimize_database(name), monitor_database(name))


# -- DatabaseManager -----------------------------------------------------------------------------------------
def test_database_manager_methods_as_documented(seed_url_text: str, tmp_path: Path) -> None:
    manager = DatabaseManager(seed_url_text)
    name = manager.list_connections()[0]
    assert manager.list_connections() == [name] and all(isinstance(n, str) for n in manager.list_connections())
    current = manager.get_connection(name)
    assert isinstance(current, DatabaseConnection)
    assert manager.get_connection("no-such-connection") is None
    manager.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR(20) NOT NULL, qty INTEGER)")
    many = manager.execute_many("INSERT INTO items (id, label, qty) VALUES (?, ?, ?)", [(1, "a", 2), (2, "b", 3)])
    assert isinstance(many, QueryResult)
    with manager.transaction():
        manager.execute("UPDATE items SET qty = qty + 1 WHERE id = ?", (1,))
    with pytest.raises(RuntimeError), manager.transaction():
        manager.execute("UPDATE items SET qty = 100 WHERE id = ?", (2,))
        raise RuntimeError("rolled back")
    rows = manager.execute_query(name, "SELECT id, label, qty FROM items ORDER BY id")
    assert rows == [{"id": 1, "label": "a", "qty": 3}, {"id": 2, "label": "b", "qty": 3}]
    assert all(type(row) is dict for row in rows)
    assert manager.execute_query(name, "SELECT qty FROM items WHERE id = ?", (2,)) == [{"qty": 3}]
    assert "items" in manager.get_tables()
    info = manager.get_table_info("items")
    assert isinstance(info, list) and [column["name"] for column in info] == ["id", "label", "qty"]
    assert info[0]["primary_key"] is True and info[1]["nullable"] is False
    health = manager.health_check_all()
    assert set(health) == {name} and health[name]["status"] == "healthy"
    stats = manager.get_database_stats()
    assert stats["connections"] == 1 and stats["queries_executed"] >= 5
    second = DatabaseConnection(name="second", db_type=DatabaseType.SQLITE, database=str(tmp_path / "second.db"))
    manager.add_connection(second)
    assert manager.list_connections() == [name, "second"]
    assert manager.connect_all() == {name: True, "second": True}
    manager.disconnect_all()
    assert not current.is_connected and not second.is_connected
    reconnected = manager.connect()
    assert reconnected is current and current.is_connected
    manager.remove_connection("second")
    assert manager.list_connections() == [name]
    manager.disconnect()
    assert not current.is_connected


def test_database_connection_key_methods(seed_url_text: str) -> None:
    url = DatabaseURL.parse(seed_url_text)
    connection = DatabaseConnection(name="direct", db_type=url.scheme, connection_string=seed_url_text)
    assert connection.connect() is connection
    assert "direct" in connection.get_connection_string() or connection.get_connection_string().startswith(
        url.scheme)
    connection.execute_query("CREATE TABLE t (v INTEGER)")
    connection.execute_query("INSERT INTO t (v) VALUES (?)", (7,))
    assert connection.execute_query("SELECT v FROM t") == [{"v": 7}]
    info = connection.get_database_info()
    assert info["tables"] == 1 and info["database"] == url.database
    assert connection.health_check()["status"] == "healthy"
    connection.disconnect()
    assert not connection.is_connected


# -- MigrationManager ------------------------------------------------------------------------------------------
def test_migration_manager_methods_as_documented(in_tmp: Path, seed_url_text: str) -> None:
    manager = MigrationManager(workspace_dir=str(in_tmp / "ws"), database_url=None)
    manager.set_database_url(seed_url_text)
    first = manager.create_migration("users", "users table", "CREATE TABLE users (id INTEGER PRIMARY KEY)",
                                     rollback_sql="DROP TABLE users")
    second = manager.create_migration("orders", "orders table", "CREATE TABLE orders (id INTEGER PRIMARY KEY)",
                                      "DROP TABLE orders", [first.id])
    assert isinstance(first, Migration) and second.dependencies == [first.id]
    loader = MigrationManager(workspace_dir=str(in_tmp / "ws"), database_url=seed_url_text)
    loader.load_migrations_from_directory()  # documented without arguments: the manager's own workspace
    listed = loader.list_migrations()
    assert [m["id"] for m in listed] == [first.id, second.id]
    assert all(isinstance(m, dict) and m["status"] == "pending" for m in listed)
    assert {"id", "name", "description", "sql", "rollback_sql", "dependencies", "created_at", "applied_at",
            "status", "checksum"} <= set(listed[0])
    assert [m.id for m in loader.get_pending_migrations()] == [first.id, second.id]
    dry = loader.apply_migration(first.id, dry_run=True)
    assert isinstance(dry, MigrationResult) and dry.success
    applied = loader.apply_migration(first.id)
    assert applied.success and applied.statements_executed == 1
    status = loader.get_migration_status(first.id)
    assert isinstance(status, dict) and status["status"] == "applied" and status["applied_at"] is not None
    assert loader.get_migration_status("999") is None
    rest = loader.apply_pending_migrations()
    assert [r.migration_id for r in rest] == [second.id] and all(isinstance(r, MigrationResult) for r in rest)
    rolled = loader.rollback_migration(second.id)
    assert rolled.success and loader.get_migration_status(second.id)["status"] == "rolled_back"  # type: ignore[index]
    loader.close()
    manager.close()


# -- BackupManager and backup_database ---------------------------------------------------------------------------
def test_backup_manager_methods_as_documented(in_tmp: Path, seed_url_text: str) -> None:
    with manage_databases(seed_url_text) as manager:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(10))")
        manager.execute_many("INSERT INTO t (id, v) VALUES (?, ?)", [(1, "x"), (2, "y")])
    backups = BackupManager(workspace_dir=str(in_tmp / "ws"), database_url=seed_url_text)
    result = backups.create_backup("app", seed_url_text, "full", "gzip", True, True)
    assert isinstance(result, BackupResult) and result.success and result.error_message is None
    assert result.file_size_mb > 0 and result.duration > 0 and result.checksum
    assert isinstance(result.warnings, list)
    listed = backups.list_backups()
    assert [b["backup_id"] for b in listed] == [result.backup_id]
    entry = listed[0]
    assert isinstance(entry, dict)
    assert {f.name for f in dataclasses.fields(Backup)} == set(entry)
    assert (entry["database_name"], entry["backup_type"], entry["compression"]) == ("app", "full", "gzip")
    assert backups.list_backups("other") == []
    assert os.path.exists(entry["file_path"])
    assert backups.delete_backup(result.backup_id) is True
    assert backups.list_backups("app") == [] and not os.path.exists(entry["file_path"])
    assert backups.delete_backup(result.backup_id) is False


def test_backup_database_function(in_tmp: Path, seed_url_text: str) -> None:
    with manage_databases(seed_url_text) as manager:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    result = backup_database("app", seed_url_text)
    assert isinstance(result, BackupResult) and result.success
    assert {f.name for f in dataclasses.fields(BackupResult)} == {
        "backup_id", "success", "duration", "file_size_mb", "error_message", "warnings", "checksum"}
    plain = backup_database("app", seed_url_text, backup_type="full", compression="none")
    assert plain.success and plain.backup_id != result.backup_id
    with pytest.raises(CodomyrmexError):
        backup_database("app", seed_url_text, compression="lzma-not-a-method")


# -- SchemaGenerator and generate_schema ---------------------------------------------------------------------------
USERS = {"name": "users", "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                                      {"name": "email", "type": "VARCHAR(120)", "nullable": False}],
         "indexes": [{"name": "ix_users_email", "columns": ["email"], "unique": True}]}


def test_schema_generator_methods_as_documented(in_tmp: Path, seed_url_text: str) -> None:
    dialect = DatabaseURL.parse(seed_url_text).scheme
    generator = SchemaGenerator(workspace_dir=str(in_tmp / "ws"), dialect=dialect)
    users_sql = generator.create_table_from_dict(USERS)
    assert "CREATE TABLE" in users_sql and "ix_users_email" in users_sql
    table = SchemaTable(name="tags", columns=[SchemaColumn("id", "INTEGER", primary_key=True)])
    assert "CREATE TABLE" in generator.create_table(table)
    script = generator.generate_schema_sql("app", version="1.0.0")
    assert script.count("CREATE TABLE") == 2
    exported = generator.export_schema(str(in_tmp / "app.sql"), format="sql")
    assert exported == str(in_tmp / "app.sql") and "CREATE TABLE" in Path(exported).read_text()
    as_json = json.loads(Path(generator.export_schema(str(in_tmp / "app.json"), "json")).read_text())
    assert {t["name"] for t in as_json["tables"]} == {"users", "tags"}
    current = {"name": "app", "version": "1.0.0", "tables": [USERS]}
    target = {"name": "app", "version": "1.1.0", "tables": [
        {**USERS, "columns": [*USERS["columns"], {"name": "nick", "type": "VARCHAR(30)"}]}]}
    compared = generator.compare_schemas(current, target)
    assert isinstance(compared, dict) and compared["modified_tables"] == {
        "users": ["add column users.nick VARCHAR(30)"]}
    drift = generator.get_schema_drift_report(current, target)
    assert drift["has_drift"] is True
    migration = generator.generate_migration("add nick", "nickname column", {"current": current, "target": target})
    assert isinstance(migration, SchemaMigration) and isinstance(migration, Migration)
    assert "nick" in migration.up_sql and migration.down_sql and migration.migration_id == migration.id
    listed = generator.list_migrations()
    assert [m["id"] for m in listed] == [migration.id] and isinstance(listed[0], dict)
    # the generated migration is what MigrationManager applies
    with manage_databases(seed_url_text) as manager:
        for statement in SchemaDefinition.from_dict(current).to_sql(dialect).split(";\n"):
            if statement.strip():
                manager.execute(statement)
    runner = MigrationManager(workspace_dir=str(in_tmp / "ws"), database_url=seed_url_text)
    runner.load_migrations_from_directory()
    assert [r.success for r in runner.apply_pending_migrations()] == [True]
    runner.close()
    with manage_databases(seed_url_text) as manager:
        assert "nick" in [c["name"] for c in manager.get_table_info("users")]


def test_generate_schema_function_and_schema_definition(in_tmp: Path) -> None:
    result = generate_schema([USERS], "schema_out")
    assert set(result) == {"tables_generated", "schema_file", "message"}
    assert result["tables_generated"] == 1 and Path(result["schema_file"]).is_file()
    schema = SchemaDefinition.from_dict({"name": "app", "version": "1.0.0", "tables": [USERS]})
    for dialect in ("sqlite", "postgresql", "mysql"):
        assert "CREATE TABLE" in schema.to_sql(dialect)
    as_dict = schema.to_dict()
    assert as_dict["name"] == "app" and as_dict["version"] == "1.0.0" and len(as_dict["tables"]) == 1


def test_generate_schema_accepts_sqlalchemy_models(in_tmp: Path) -> None:
    from sqlalchemy import Column, Integer, String
    from sqlalchemy.orm import declarative_base

    base: Any = declarative_base()

    class Account(base):  # type: ignore[misc, valid-type]
        __tablename__ = "accounts"
        id = Column(Integer, primary_key=True)
        owner = Column(String(40))

    result = generate_schema([Account], "sa_out")
    assert result["tables_generated"] == 1 and "accounts" in Path(result["schema_file"]).read_text()


# -- DatabasePerformanceMonitor --------------------------------------------------------------------------------------
def test_performance_monitor_methods(in_tmp: Path) -> None:
    monitor = DatabasePerformanceMonitor(workspace_dir=str(in_tmp / "perf"))
    monitor.record_query("app", "SELECT * FROM t WHERE id = 1", 12.5)
    analysis = monitor.analyze_database_performance("app")
    assert analysis["database_name"] == "app" and analysis["query_analysis"]["samples"] == 1
    metrics = analysis["metrics"]
    assert {"database_name", "timestamp", "connections_active", "connections_idle", "queries_per_second",
            "average_query_time_ms", "cache_hit_ratio", "disk_io_mb"} <= set(metrics)
    report = monitor.get_performance_report("app")
    assert {"query_performance", "database_performance", "alerts", "recommendations"} <= set(report)
    assert report["query_performance"]["samples"] == 1
