"""Conformance: statements, placeholders and typed errors.

Every SQL dialect binds ``?`` and ``:name`` whatever its driver's style, leaves
placeholders inside literals alone, reports rows affected, and maps driver
errors onto :class:`~dbkeeper.errors.QueryError` and
:class:`~dbkeeper.errors.IntegrityError`.
"""

from __future__ import annotations

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ClosedError, IntegrityError, QueryError
from dbkeeper.testing.suite._base import HOSTILE_VALUE, ConformanceBase
from dbkeeper.urls import DatabaseURL


class ExecuteConformance(ConformanceBase):
    """Connecting, executing, binding values and the errors a statement can raise."""

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
