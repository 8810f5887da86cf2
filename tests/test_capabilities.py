"""Capabilities are honest by default and enforced: a dialect gets only what it declares.

A dialect that declares ``savepoints=False`` runs the conformance suite's
transaction module: a nested block is refused with a typed error before any
``SAVEPOINT`` reaches the database, and the outer transaction still commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import dbkeeper
from dbkeeper.contract.dialect import Capabilities, Dialect
from dbkeeper.engine.plugins import PluginRegistry, set_registry
from dbkeeper.testing.suite import TransactionConformance
from dbkeeper.urls import DatabaseURL
from dbkeeper_sqlite.dialect import SQLiteDialect


class NoSavepointsDialect(SQLiteDialect):
    """SQLite with savepoints declared off, as an engine without them (DuckDB) declares."""

    name = "nosavepoints"
    schemes = ("nosavepoints",)
    capabilities = Capabilities(sql=True, transactions=True, savepoints=False, server=False, bulk_insert=True,
                                introspection=True)

    def connect(self, url: DatabaseURL, *, timeout: float | None = None, autocommit: bool = True) -> Any:
        conn = super().connect(url, timeout=timeout, autocommit=autocommit)
        conn.set_trace_callback(SENT.append)
        return conn


#: Every statement the SQLite driver ran for the dialect above.
SENT: list[str] = []


class _Registers:
    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(self, register: Any) -> None:
        register(NoSavepointsDialect)


class TestADialectWithoutSavepoints(TransactionConformance):
    @pytest.fixture
    def database_url(self, tmp_path: Path, installed_entry_points: list[EntryPoint]) -> Iterator[DatabaseURL]:
        previous = set_registry(PluginRegistry(entry_points=installed_entry_points,
                                               extra_plugins=[("nosavepoints", _Registers())]))
        SENT.clear()
        try:
            yield DatabaseURL(scheme="nosavepoints", database=str(tmp_path / "t.db"))
        finally:
            set_registry(previous)

    def test_no_savepoint_statement_reached_the_database(self, database_url: DatabaseURL) -> None:
        from dbkeeper.engine.connection import DatabaseConnection
        from dbkeeper.errors import UnsupportedOperationError

        with DatabaseConnection.from_url(database_url) as conn, conn.transaction():
            conn.execute("CREATE TABLE t (x INTEGER)")
            with pytest.raises(UnsupportedOperationError), conn.transaction():
                conn.execute("INSERT INTO t VALUES (1)")  # pragma: no cover
        assert SENT and not any("SAVEPOINT" in s.upper() for s in SENT), SENT


def test_a_new_dialect_claims_only_what_the_base_class_delivers() -> None:
    """SQL, BEGIN/COMMIT, executemany bulk loads and information_schema introspection; nothing else."""
    claimed = {flag for flag, on in Capabilities().to_dict().items() if on}
    assert claimed == {"sql", "transactions", "bulk_insert", "introspection"}

    class Fresh(Dialect):
        name = "fresh"

    assert not Fresh.capabilities.savepoints and not Fresh.capabilities.backups
    assert not Fresh.capabilities.server and not Fresh.capabilities.migrations
