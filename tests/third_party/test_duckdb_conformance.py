"""A third-party dialect written from docs/writing-a-plugin.md alone passes the whole conformance suite.

DuckDB is an engine none of dbkeeper's plugins is: embedded and columnar, a
driver whose ``cursor()`` opens a new session, ``$1`` placeholders, no
savepoints, no SQLAlchemy dialect. Its capabilities are honest: what it
switches off (savepoints, foreign-key actions, schema rendering, ...) is
skipped by declaration, and the refusal of a nested block is tested instead.
"""

from __future__ import annotations

import pytest

from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL


class TestDuckDBConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, duckdb_url: DatabaseURL) -> DatabaseURL:
        return duckdb_url


class TestDuckDBMemoryConformance(DialectConformance):
    """``:memory:`` is one database per connection, so the pool holds exactly one (``single_connection``)."""

    @pytest.fixture
    def database_url(self, duckdb_registry: object) -> DatabaseURL:
        return DatabaseURL.parse("duckdb:///:memory:")

    def test_uncommitted_rows_are_invisible_to_other_connections(self) -> None:  # type: ignore[override]
        pytest.skip("an in-memory database has exactly one connection, so there is no other connection to look")

    def test_pool_exhaustion_raises_a_timeout(self) -> None:  # type: ignore[override]
        pytest.skip("an in-memory database has a pool of one connection")

    def test_threads_share_the_pool_safely(self) -> None:  # type: ignore[override]
        pytest.skip("an in-memory database has one connection; the file class runs this with six threads")
