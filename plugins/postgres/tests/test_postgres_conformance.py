"""The PostgreSQL dialect runs the shared conformance suite on a scratch database of its own."""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL

pytestmark = pytest.mark.postgres


class TestPostgresConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, dbkeeper_postgres_url: DatabaseURL) -> DatabaseURL:
        return dbkeeper_postgres_url

    def session_id(self, connection: DatabaseConnection) -> Any:
        """The backend pid of the pooled connection that will serve the next statement.

        The pool is LIFO (:class:`dbkeeper.engine.pool.ConnectionPool`): the
        connection that answers this query is the last one returned, so it is
        the first one the suite's next ``execute`` checks out.
        """
        return connection.execute("SELECT pg_backend_pid() AS pid").scalar()

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        # With a timeout (PostgreSQL 14+), pg_terminate_backend waits until the backend has exited.
        killed = admin.execute("SELECT pg_terminate_backend(%s, 5000) AS killed", (session,)).scalar()
        assert killed is True, f"backend {session} did not exit within 5 s"
