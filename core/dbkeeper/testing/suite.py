"""The dialect conformance suite: one set of behavioural tests for every backend.

A plugin runs it by subclassing and providing a ``database_url`` fixture that
yields the URL of an empty scratch database::

    from dbkeeper.testing.suite import DialectConformance

    class TestMyDialect(DialectConformance):
        @pytest.fixture
        def database_url(self, dbkeeper_postgres_url):
            return dbkeeper_postgres_url

        def kill_session(self, admin, victim_id):   # for servers: see below
            admin.execute("SELECT pg_terminate_backend(%s)", (victim_id,))

Tests that need a capability the dialect switches off in its
:class:`~dbkeeper.dialect.Capabilities` are skipped by declaration, with the
flag named in the reason; a store whose statements are not SQL declares
``sql=False`` and runs only the tests that do not speak SQL. Server dialects
implement :meth:`session_id` and :meth:`kill_session` so the suite can prove
that a killed session is survived.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dbkeeper.connection import DatabaseConnection
from dbkeeper.errors import ClosedError, IntegrityError, PoolTimeoutError, QueryError
from dbkeeper.urls import DatabaseURL

HOSTILE_VALUE = "'; DROP TABLE items; -- \" \\ % ? :name $1 ünï 🐘"
SECRET_PASSWORD = "S3cr@t:p/w%ord"


class DialectConformance:
    """Base class of the conformance suite; subclass it in your plugin's tests."""

    # -- hooks for subclasses ---------------------------------------------------------------
    def session_id(self, connection: DatabaseConnection) -> Any:
        """The server's id of the session serving ``connection`` (server dialects)."""
        pytest.skip("the dialect's test class does not implement session_id()")

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        """Kill ``session`` from another connection (server dialects)."""
        pytest.skip("the dialect's test class does not implement kill_session()")

    def requires(self, connection: DatabaseConnection, flag: str) -> None:
        """Skip unless the dialect declares capability ``flag``."""
        if not getattr(connection.dialect.capabilities, flag):
            pytest.skip(f"dialect {connection.dialect.name!r} declares capability {flag}=False")

    # -- fixtures ----------------------------------------------------------------------------
    @pytest.fixture
    def database_url(self) -> DatabaseURL:
        raise NotImplementedError("subclasses provide a database_url fixture")  # pragma: no cover

    @pytest.fixture
    def connection(self, database_url: DatabaseURL) -> Iterator[DatabaseConnection]:
        conn = DatabaseConnection.from_url(database_url, name="conformance", pool_size=3, max_overflow=0,
                                           pool_timeout=1.0)
        conn.connect()
        try:
            yield conn
        finally:
            conn.disconnect()

    @pytest.fixture
    def items(self, connection: DatabaseConnection) -> str:
        """An ``items`` table (id, name, price, note) with a unique name index (SQL dialects only)."""
        self.requires(connection, "sql")
        connection.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "price DOUBLE PRECISION, note VARCHAR(200))"
        )
        connection.execute("CREATE UNIQUE INDEX items_name ON items (name)")
        return "items"

    # -- connecting --------------------------------------------------------------------------
    def test_connect_reports_a_server_version(self, connection: DatabaseConnection) -> None:
        info = connection.health_check()
        assert info["status"] == "healthy", info
        assert info["server_version"] and info["server_version"] != "unknown"
        assert info["latency_ms"] >= 0

    def test_execute_returns_rows_as_dicts_with_column_names(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "sql")
        result = connection.execute("SELECT 1 AS one, 'two' AS two")
        assert result.columns == ["one", "two"]
        assert result.rows == [{"one": 1, "two": "two"}]
        assert result.row_count == 1
        assert result.execution_time > 0

    def test_closed_connection_refuses_statements(self, database_url: DatabaseURL) -> None:
        conn = DatabaseConnection.from_url(database_url).connect()
        conn.disconnect()
        with pytest.raises(ClosedError):
            conn.execute("SELECT 1")

    # -- parameters --------------------------------------------------------------------------
    def test_qmark_and_named_placeholders_bind_values(self, connection: DatabaseConnection, items: str) -> None:
        connection.execute("INSERT INTO items (id, name, price) VALUES (?, ?, ?)", (1, "apple", 1.5))
        connection.execute("INSERT INTO items (id, name, price) VALUES (:id, :name, :price)",
                           {"id": 2, "name": "pear", "price": 2.25})
        rows = connection.execute("SELECT id, name, price FROM items WHERE id IN (?, ?) ORDER BY id", (1, 2)).rows
        assert rows == [{"id": 1, "name": "apple", "price": 1.5}, {"id": 2, "name": "pear", "price": 2.25}]

    def test_native_placeholders_are_accepted(self, connection: DatabaseConnection, items: str) -> None:
        if connection.dialect.paramstyle == "pyformat":
            connection.execute("INSERT INTO items (id, name) VALUES (%s, %s)", (1, "fig"))
            connection.execute("INSERT INTO items (id, name) VALUES (%(id)s, %(name)s)", {"id": 2, "name": "kiwi"})
        else:
            connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "fig"))
            connection.execute("INSERT INTO items (id, name) VALUES (:id, :name)", {"id": 2, "name": "kiwi"})
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 2

    def test_hostile_values_are_bound_not_formatted(self, connection: DatabaseConnection, items: str) -> None:
        connection.execute("INSERT INTO items (id, name, note) VALUES (?, ?, ?)", (1, "x", HOSTILE_VALUE))
        assert connection.execute("SELECT note FROM items WHERE note = ?", (HOSTILE_VALUE,)).scalar() == HOSTILE_VALUE
        assert connection.get_tables() == ["items"]

    def test_placeholders_inside_literals_are_left_alone(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "sql")
        row = connection.execute("SELECT '?' AS q, ':name' AS n, '50%' AS p, ? AS v", (7,)).first()
        assert row == {"q": "?", "n": ":name", "p": "50%", "v": 7}

    def test_rows_affected_is_reported(self, connection: DatabaseConnection, items: str) -> None:
        connection.execute_many("INSERT INTO items (id, name) VALUES (?, ?)", [(i, f"n{i}") for i in range(5)])
        result = connection.execute("UPDATE items SET note = ? WHERE id < ?", ("cheap", 3))
        assert result.rows_affected == 3
        assert result.rows == []

    # -- errors ------------------------------------------------------------------------------
    def test_syntax_error_is_a_query_error(self, connection: DatabaseConnection) -> None:
        with pytest.raises(QueryError) as info:
            connection.execute("SELEC nonsense")
        assert "SELEC" in str(info.value)

    def test_unique_violation_is_an_integrity_error(self, connection: DatabaseConnection, items: str) -> None:
        connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "dup"))
        with pytest.raises(IntegrityError):
            connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (2, "dup"))
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 1

    def test_a_failed_statement_leaves_the_pool_usable(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "sql")
        for _ in range(5):
            with pytest.raises(QueryError):
                connection.execute("SELECT * FROM no_such_table")
        assert connection.execute("SELECT 1 AS x").scalar() == 1
        assert connection.get_stats()["errors"] == 5

    # -- transactions ------------------------------------------------------------------------
    def test_transaction_commits(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "transactions")
        with connection.transaction() as tx:
            tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (2, "b"))
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 2

    def test_transaction_rolls_back_when_the_block_raises(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "transactions")
        with pytest.raises(RuntimeError), connection.transaction() as tx:
            tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            raise RuntimeError("boom")
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 0

    def test_uncommitted_rows_are_invisible_to_other_connections(self, connection: DatabaseConnection,
                                                                 items: str) -> None:
        self.requires(connection, "transactions")
        seen: list[int] = []
        with connection.transaction() as tx:
            tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            worker = threading.Thread(
                target=lambda: seen.append(connection.execute("SELECT COUNT(*) AS n FROM items").scalar()))
            worker.start()
            worker.join()
        assert seen == [0]
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 1

    def test_nested_transaction_is_a_savepoint(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "savepoints")
        with connection.transaction() as outer:
            outer.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "kept"))
            with pytest.raises(ValueError, match="inner block"), connection.transaction() as inner:
                inner.execute("INSERT INTO items (id, name) VALUES (?, ?)", (2, "dropped"))
                raise ValueError("undo the inner block only")
            with connection.transaction() as inner2:
                inner2.execute("INSERT INTO items (id, name) VALUES (?, ?)", (3, "kept too"))
        names = [r["name"] for r in connection.execute("SELECT name FROM items ORDER BY id").rows]
        assert names == ["kept", "kept too"]

    def test_execute_many_is_atomic(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "transactions")
        with pytest.raises(IntegrityError):
            connection.execute_many("INSERT INTO items (id, name) VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "a")])
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 0

    # -- bulk insert -------------------------------------------------------------------------
    def test_bulk_insert_round_trips_values(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "bulk_insert")
        rows = [(i, f"name-{i}", i / 4, None if i % 3 else HOSTILE_VALUE) for i in range(1, 2001)]
        assert connection.bulk_insert("items", rows, ["id", "name", "price", "note"]) == 2000
        back = connection.execute("SELECT id, name, price, note FROM items ORDER BY id").tuples()
        assert back == rows

    def test_bulk_insert_accepts_dicts(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "bulk_insert")
        count = connection.bulk_insert("items", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
        assert count == 2
        assert connection.execute("SELECT name FROM items ORDER BY id").tuples() == [("a",), ("b",)]

    def test_bulk_insert_is_all_or_nothing(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "bulk_insert")
        rows = [(i, f"n{i}") for i in range(1, 500)] + [(999, "n1")]
        with pytest.raises(IntegrityError):
            connection.bulk_insert("items", rows, ["id", "name"])
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 0

    def test_bulk_insert_refuses_a_row_of_the_wrong_width(self, connection: DatabaseConnection, items: str) -> None:
        """A row with a value missing is an error, never values shifted into the wrong columns."""
        self.requires(connection, "bulk_insert")
        rows: list[tuple[Any, ...]] = [(i, f"n{i}", i / 2) for i in range(1, 300)]
        rows.insert(150, (1000, "short"))
        with pytest.raises(QueryError):
            connection.bulk_insert("items", rows, ["id", "name", "price"])
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 0

    # -- identifiers and introspection -----------------------------------------------------------
    @pytest.mark.parametrize("table", ['we"ird', "with space", "select", "ünïcode_tæble"])
    def test_hostile_identifiers_are_quoted(self, connection: DatabaseConnection, table: str) -> None:
        self.requires(connection, "sql")
        quoted = connection.dialect.quote_identifier(table)
        column = connection.dialect.quote_identifier("order")
        connection.execute(f"CREATE TABLE {quoted} (id INTEGER PRIMARY KEY, {column} VARCHAR(20))")
        assert connection.bulk_insert(table, [(1, "x")], ["id", "order"]) == 1
        assert table in connection.get_tables()
        info = connection.get_table_info(table)
        assert [c["name"] for c in info["columns"]] == ["id", "order"]
        assert info["row_count"] == 1

    def test_introspection_reports_keys_and_indexes(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "introspection")
        connection.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, qty INTEGER, "
            "FOREIGN KEY (item_id) REFERENCES items (id) ON DELETE CASCADE)"
        )
        connection.execute("CREATE INDEX orders_item ON orders (item_id)")
        assert connection.get_tables() == ["items", "orders"]
        info = connection.get_table_info("orders")
        assert info["primary_key"] == ("id",)
        columns = {c["name"]: c for c in info["columns"]}
        assert set(columns) == {"id", "item_id", "qty"}
        assert columns["item_id"]["nullable"] is False
        assert any(ix["columns"] == ("item_id",) for ix in info["indexes"])
        (fk,) = info["foreign_keys"]
        assert fk["referred_table"] == "items" and fk["columns"] == ("item_id",)
        assert (fk["on_delete"] or "").upper() == "CASCADE"
        items_info = connection.get_table_info("items")
        assert any(ix["unique"] and ix["columns"] == ("name",) for ix in items_info["indexes"])

    def test_describing_a_missing_table_is_a_clear_error(self, connection: DatabaseConnection) -> None:
        with pytest.raises(QueryError, match="no such table 'ghost'"):
            connection.get_table_info("ghost")

    def test_explain_returns_a_plan(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "explain")
        plan = connection.explain("SELECT * FROM items WHERE name = ?", ("x",))
        assert plan.dialect == connection.dialect.name
        assert plan.text.strip()

    # -- pools and concurrency ------------------------------------------------------------------
    def test_pool_exhaustion_raises_a_timeout(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "sql")
        self.requires(connection, "transactions")
        held: list[Any] = []
        release = threading.Event()
        ready = threading.Barrier(4)

        def hold() -> None:
            with connection.transaction():
                ready.wait()
                release.wait(10)

        threads = [threading.Thread(target=hold) for _ in range(3)]
        for t in threads:
            t.start()
        ready.wait()
        try:
            with pytest.raises(PoolTimeoutError, match="pool size"):
                connection.execute("SELECT 1")
        finally:
            release.set()
            for t in threads:
                t.join()
        assert not held
        assert connection.execute("SELECT 1 AS x").scalar() == 1

    def test_threads_share_the_pool_safely(self, connection: DatabaseConnection, items: str) -> None:
        errors: list[BaseException] = []

        def work(start: int) -> None:
            try:
                for i in range(start, start + 25):
                    connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (i, f"t{i}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 150

    def test_a_killed_session_is_survived(self, connection: DatabaseConnection, database_url: DatabaseURL) -> None:
        self.requires(connection, "server")
        self.requires(connection, "sql")
        victim = self.session_id(connection)
        admin = DatabaseConnection.from_url(database_url, name="admin", pool_size=1).connect()
        try:
            self.kill_session(admin, victim)
        finally:
            admin.disconnect()
        assert connection.execute("SELECT 1 AS x").scalar() == 1
        assert connection.get_stats()["reconnects"] >= 1

    # -- secrets --------------------------------------------------------------------------------------
    def test_password_never_appears_in_reprs_errors_or_logs(self, database_url: DatabaseURL,
                                                            caplog: pytest.LogCaptureFixture) -> None:
        from urllib.parse import quote

        if database_url.scheme == "sqlite":
            url = DatabaseURL.parse(f"postgresql://user:{quote(SECRET_PASSWORD, safe='')}@127.0.0.1:1/x")
        else:
            url = DatabaseURL(scheme=database_url.scheme, username=database_url.username,
                              password=SECRET_PASSWORD, host=database_url.host, port=database_url.port,
                              database=database_url.database, query=database_url.query)
        texts: list[str] = [repr(url), str(url), url.render()]
        caplog.set_level(logging.DEBUG, logger="dbkeeper")
        conn = DatabaseConnection.from_url(url, name="secretive", connection_timeout=3, max_retries=0)
        texts += [repr(conn), str(conn), conn.get_connection_string()]
        try:
            conn.connect()
            with pytest.raises(QueryError) as info:
                conn.execute("SELECT * FROM table_that_is_missing WHERE x = ?", (SECRET_PASSWORD,))
            texts.append(str(info.value))
            texts.append(repr(conn.get_database_info()))
            texts.append(repr(conn.health_check()))
        except Exception as exc:  # servers with password auth refuse the made-up password
            texts.append(str(exc))
            texts.append(repr(exc))
        finally:
            conn.disconnect()
        texts.append(caplog.text)
        everything = "\n".join(texts)
        for form in (SECRET_PASSWORD, quote(SECRET_PASSWORD, safe=""), quote(SECRET_PASSWORD)):
            assert form not in everything
