"""The SQLite dialect runs the shared conformance suite on a real file."""

from __future__ import annotations

import pytest

from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL


class TestSQLiteConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, dbkeeper_sqlite_url: DatabaseURL) -> DatabaseURL:
        return dbkeeper_sqlite_url


class TestSQLiteMemoryConformance(DialectConformance):
    """``:memory:`` shares one connection; everything but cross-connection isolation still holds."""

    @pytest.fixture
    def database_url(self) -> DatabaseURL:
        return DatabaseURL.parse("sqlite:///:memory:")

    def test_uncommitted_rows_are_invisible_to_other_connections(self) -> None:  # type: ignore[override]
        pytest.skip("an in-memory database has exactly one connection, so there is no other connection to look")

    def test_pool_exhaustion_raises_a_timeout(self) -> None:  # type: ignore[override]
        pytest.skip("an in-memory database has a pool of one connection; covered by test_sqlite_memory_pool")

    def test_threads_share_the_pool_safely(self) -> None:  # type: ignore[override]
        pytest.skip("covered by test_sqlite_memory_serialises_threads with the one shared connection")
