"""The PostgreSQL dialect runs the shared conformance suite on a scratch database of its own."""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.connection import DatabaseConnection
from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL

pytestmark = pytest.mark.postgres


class TestPostgresConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, dbkeeper_postgres_url: DatabaseURL) -> DatabaseURL:
        return dbkeeper_postgres_url

    def session_id(self, connection: DatabaseConnection) -> Any:
        """The backend pid of the pooled connection that will serve the next statement.

        The pool hands idle connections out in FIFO order. The fixture's pool
        holds exactly one idle connection (the one ``connect()`` opened), so
        the connection answering this query goes back as the only idle one
        and is the one the suite's next ``execute`` checks out.
        """
        assert connection.pool_status()["checkedin"] == 1, connection.pool_status()
        pid = connection.execute("SELECT pg_backend_pid() AS pid").scalar()
        assert connection.pool_status()["checkedin"] == 1, connection.pool_status()
        return pid

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        # With a timeout (PostgreSQL 14+), pg_terminate_backend waits until the backend has exited.
        killed = admin.execute("SELECT pg_terminate_backend(%s, 5000) AS killed", (session,)).scalar()
        assert killed is True, f"backend {session} did not exit within 5 s"
