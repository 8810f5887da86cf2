"""Conformance: bulk loads are fast paths with the guarantees of ``execute_many``.

Switched by ``bulk_insert``: values round-trip exactly, dict rows work, a
failing row undoes the whole load, and a short row is an error instead of
values shifted into the wrong columns.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import IntegrityError, QueryError
from dbkeeper.testing.suite._base import HOSTILE_VALUE, ConformanceBase


class BulkConformance(ConformanceBase):
    """What ``DatabaseConnection.bulk_insert`` promises on every dialect."""

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
