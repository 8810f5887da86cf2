"""The Redis dialect runs the shared conformance suite; SQL-only tests skip by declaration (sql=False)."""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.connection import DatabaseConnection
from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL


class TestRedisConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, redis_url: DatabaseURL) -> DatabaseURL:
        return redis_url

    def session_id(self, connection: DatabaseConnection) -> Any:
        """``CLIENT ID`` of the pooled connection the next statement gets (the pool is LIFO)."""
        return connection.execute("CLIENT ID").scalar()

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        assert admin.execute("CLIENT KILL ID ?", (session,)).scalar() == 1
