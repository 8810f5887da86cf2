"""Conformance: quoted identifiers, table descriptions and plans.

Switched by ``introspection``, ``foreign_key_actions`` and ``explain``.
Hostile names must round-trip through ``quote_identifier``; the description of
a table names its key, columns, indexes and foreign keys.
"""

from __future__ import annotations

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import QueryError
from dbkeeper.testing.suite._base import ConformanceBase


class IntrospectionConformance(ConformanceBase):
    """Identifiers, ``get_tables``/``get_table_info`` and ``explain``."""

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
            "FOREIGN KEY (item_id) REFERENCES items (id))"
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
        items_info = connection.get_table_info("items")
        assert any(ix["unique"] and ix["columns"] == ("name",) for ix in items_info["indexes"])

    def test_introspection_reports_foreign_key_actions(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "introspection")
        self.requires(connection, "foreign_key_actions")
        connection.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, "
            "FOREIGN KEY (item_id) REFERENCES items (id) ON DELETE CASCADE)"
        )
        (fk,) = connection.get_table_info("orders")["foreign_keys"]
        assert fk["referred_table"] == "items" and fk["columns"] == ("item_id",)
        assert (fk["on_delete"] or "").upper() == "CASCADE"

    def test_describing_a_missing_table_is_a_clear_error(self, connection: DatabaseConnection) -> None:
        with pytest.raises(QueryError, match="no such table 'ghost'"):
            connection.get_table_info("ghost")

    def test_explain_returns_a_plan(self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "explain")
        plan = connection.explain("SELECT * FROM items WHERE name = ?", ("x",))
        assert plan.dialect == connection.dialect.name
        assert plan.text.strip()
