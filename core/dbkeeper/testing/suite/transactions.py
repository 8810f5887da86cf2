"""Conformance: transactions, isolation, savepoints and their refusal.

Switched by ``transactions`` and ``savepoints``. A dialect that declares
``savepoints=False`` must refuse a nested block with a typed error before any
``SAVEPOINT`` reaches the database, leaving the outer transaction usable.
"""

from __future__ import annotations

import threading

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import IntegrityError, UnsupportedOperationError
from dbkeeper.testing.suite._base import ConformanceBase


class TransactionConformance(ConformanceBase):
    """Blocks commit or roll back as a whole; nesting is a savepoint or a typed refusal."""

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


    def test_nesting_without_savepoints_is_refused_and_the_outer_block_still_commits(
            self, connection: DatabaseConnection, items: str) -> None:
        self.requires(connection, "transactions")
        self.requires_not(connection, "savepoints")
        with connection.transaction() as outer:
            outer.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "kept"))
            with pytest.raises(UnsupportedOperationError, match="savepoints=False"), connection.transaction():
                pytest.fail("a nested block ran without savepoints")  # pragma: no cover
            outer.execute("INSERT INTO items (id, name) VALUES (?, ?)", (2, "kept too"))
        names = [r["name"] for r in connection.execute("SELECT name FROM items ORDER BY id").rows]
        assert names == ["kept", "kept too"]
