"""The seed DatabaseManager / DatabaseConnection API on a real SQLite file."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from dbkeeper import (
    ClosedError,
    ConfigurationError,
    DatabaseConnection,
    DatabaseManager,
    DatabaseType,
    QueryError,
    manage_databases,
)
from dbkeeper.errors import ConnectionError


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "shop.db"


def test_manage_databases_connects_when_given_a_url(db_path: Path) -> None:
    manager = manage_databases(f"sqlite:///{db_path}")
    try:
        assert manager.execute("SELECT 1 AS one").rows == [{"one": 1}]
        assert db_path.exists()
        assert manager.list_connections() == ["shop"]
        assert manager.describe_connections() == [
            {"name": "shop", "db_type": "sqlite", "url": f"sqlite:///{db_path}", "connected": True, "current": True}
        ]
    finally:
        manager.disconnect_all()
    assert manage_databases().list_connections() == []


def test_seed_connection_fields_and_named_queries(tmp_path: Path) -> None:
    manager = DatabaseManager()
    conn = DatabaseConnection(name="inventory", db_type=DatabaseType.SQLITE, database=str(tmp_path / "inv.db"))
    assert conn.created_at.tzinfo is not None
    assert (conn.connection_pool_size, conn.connection_timeout, conn.max_retries) == (10, 30, 3)
    manager.add_connection(conn)
    with pytest.raises(ConfigurationError, match="already exists"):
        manager.add_connection(DatabaseConnection(name="inventory", database=str(tmp_path / "other.db")))
    assert manager.connect_all() == {"inventory": True}
    manager.execute_query("inventory", "CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER)")
    manager.execute_query("inventory", "INSERT INTO stock VALUES (?, ?)", ("A-1", 3))
    assert manager.execute_query("inventory", "SELECT * FROM stock") == [{"sku": "A-1", "qty": 3}]
    assert manager.get_connection("inventory").execute_query("SELECT qty FROM stock") == [{"qty": 3}]
    health = manager.health_check_all()["inventory"]
    assert health["status"] == "healthy" and health["server_version"]
    stats = manager.get_database_stats()
    assert stats["connections"] == 1 and stats["queries_executed"] >= 3
    assert stats["per_connection"]["inventory"]["pool"]["connected"] is True
    info = conn.get_database_info()
    assert info["tables"] == 1 and info["dialect"] == "sqlite"
    assert manager.remove_connection("inventory") is True
    assert manager.remove_connection("inventory") is False
    with pytest.raises(ClosedError):
        conn.execute("SELECT 1")


def test_disconnect_and_reconnect(db_path: Path) -> None:
    manager = DatabaseManager(f"sqlite:///{db_path}")
    manager.disconnect()
    with pytest.raises(ClosedError, match="not connected"):
        manager.execute("SELECT 1")
    manager.get_connection().connect()
    assert manager.execute("SELECT 2 AS two").scalar() == 2
    manager.close_pool()
    assert manager.get_connection().is_connected is False


def test_connect_twice_to_one_url_reuses_the_connection(db_path: Path) -> None:
    manager = DatabaseManager()
    first = manager.connect(f"sqlite:///{db_path}")
    assert manager.connect(f"sqlite:///{db_path}") is first
    with pytest.raises(ConfigurationError, match="already points at"):
        manager.connect(f"sqlite:///{db_path.parent / 'sub'}/shop.db")
    second = manager.connect(f"sqlite:///{db_path.parent / 'other.db'}", name="other")
    assert manager.get_connection() is second
    manager.use("shop")
    assert manager.get_connection() is first
    manager.disconnect_all()


def test_a_failed_connect_leaves_no_half_registered_connection(tmp_path: Path) -> None:
    manager = DatabaseManager()
    with pytest.raises(ConfigurationError, match="does not exist"):
        manager.connect(f"sqlite:///{tmp_path / 'missing_dir' / 'x.db'}")
    assert manager.list_connections() == []
    with pytest.raises(ConnectionError):
        manager.connect("postgresql://nobody:pw@127.0.0.1:1/none", connection_timeout=2, max_retries=0)
    assert manager.list_connections() == []


def test_every_statement_is_logged_at_debug_with_duration_and_without_values(
        db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dbkeeper")
    with DatabaseManager(f"sqlite:///{db_path}") as manager:
        manager.execute("CREATE TABLE secrets (v TEXT)")
        manager.execute("INSERT INTO secrets VALUES (?)", ("value-that-must-not-be-logged",))
        manager.execute_many("INSERT INTO secrets VALUES (?)", [("also-hidden",)])
        manager.bulk_insert("secrets", [("bulk-hidden",)], ["v"])
        with pytest.raises(QueryError):
            manager.execute("SELECT nope FROM secrets WHERE v = ?", ("error-hidden",))
    records = [r for r in caplog.records if r.name == "dbkeeper" and r.levelno == logging.DEBUG]
    text = "\n".join(r.getMessage() for r in records)
    assert "INSERT INTO secrets VALUES (?)" in text
    assert " ms" in text
    for hidden in ("value-that-must-not-be-logged", "also-hidden", "bulk-hidden", "error-hidden"):
        assert hidden not in caplog.text


def test_query_result_shape(db_path: Path) -> None:
    with DatabaseManager(f"sqlite:///{db_path}") as manager:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)")
        inserted = manager.execute("INSERT INTO t (name) VALUES (?)", ("a",))
        assert inserted.lastrowid == 1 and inserted.rows_affected == 1 and inserted.row_count == 0
        result = manager.execute("SELECT id, name FROM t")
        assert result.columns == ["id", "name"]
        assert result.tuples() == [(1, "a")]
        assert result.to_dict()["row_count"] == 1
        assert result.execution_time >= 0
        assert "row_count=1" in repr(result)


def test_transactions_are_per_thread(db_path: Path) -> None:
    with DatabaseManager(f"sqlite:///{db_path}") as manager:
        manager.execute("CREATE TABLE t (v INTEGER)")
        inside = threading.Event()
        done = threading.Event()
        seen: list[int] = []

        def other_thread() -> None:
            inside.wait(5)
            seen.append(manager.execute("SELECT COUNT(*) AS n FROM t").scalar())
            done.set()

        worker = threading.Thread(target=other_thread)
        worker.start()
        with manager.transaction():
            manager.execute("INSERT INTO t VALUES (1)")
            inside.set()
            done.wait(5)
        worker.join()
        assert seen == [0]
        assert manager.execute("SELECT COUNT(*) AS n FROM t").scalar() == 1


def test_memory_database_is_shared_by_every_user_of_the_manager() -> None:
    with DatabaseManager("sqlite:///:memory:") as manager:
        manager.execute("CREATE TABLE t (v INTEGER)")
        manager.bulk_insert("t", [(i,) for i in range(10)], ["v"])
        threads = [threading.Thread(target=manager.execute, args=("INSERT INTO t VALUES (?)", (99,)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert manager.execute("SELECT COUNT(*) AS n FROM t").scalar() == 14
        assert manager.get_tables() == ["t"]


def test_bulk_insert_needs_columns_for_sequences(db_path: Path) -> None:
    with DatabaseManager(f"sqlite:///{db_path}") as manager:
        manager.execute("CREATE TABLE t (v INTEGER)")
        with pytest.raises(ConfigurationError, match="pass columns"):
            manager.bulk_insert("t", [(1,)])
        assert manager.bulk_insert("t", []) == 0


def test_password_is_masked_in_connection_strings_and_reprs() -> None:
    conn = DatabaseConnection(name="x", db_type="postgresql", host="h", database="d", username="u",
                              password="top secret")
    assert "top secret" not in repr(conn) and "top secret" not in str(conn)
    assert "top%20secret" not in conn.get_connection_string()
    assert conn.get_connection_string(include_password=True) == "postgresql://u:top%20secret@h:5432/d"
    assert "top secret" not in repr(DatabaseManager())


def test_database_type_accepts_names_values_and_aliases() -> None:
    assert DatabaseType.coerce("postgres") is DatabaseType.POSTGRESQL
    assert DatabaseType.coerce("MYSQL") is DatabaseType.MYSQL
    assert DatabaseType.coerce("mariadb") is DatabaseType.MYSQL
    assert DatabaseType.coerce("db2") is DatabaseType.CUSTOM
    assert {t.name for t in DatabaseType} == {"SQLITE", "POSTGRESQL", "MYSQL", "MONGODB", "REDIS", "CUSTOM"}


def test_custom_types_need_a_connection_string() -> None:
    with pytest.raises(ConfigurationError, match="needs a connection_string"):
        DatabaseConnection(name="x", db_type=DatabaseType.CUSTOM)


def test_an_error_from_the_callers_rows_is_not_a_query_error(db_path: Path) -> None:
    def rows() -> object:
        yield (1,)
        raise RuntimeError("the source broke")

    with DatabaseManager(f"sqlite:///{db_path}") as manager:
        manager.execute("CREATE TABLE t (v INTEGER)")
        with pytest.raises(RuntimeError, match="the source broke"):
            manager.bulk_insert("t", rows(), ["v"])  # type: ignore[arg-type]
        assert manager.execute("SELECT COUNT(*) AS n FROM t").scalar() == 0


def test_pretty_printers_show_the_masked_form() -> None:
    from hypothesis.vendor.pretty import pretty

    from dbkeeper import DatabaseURL

    url = DatabaseURL.parse("postgresql://u:TopSecret@h/d")
    conn = DatabaseConnection.from_url(url)
    assert "TopSecret" not in pretty(url)
    assert "TopSecret" not in pretty(conn)
