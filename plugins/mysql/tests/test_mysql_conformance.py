"""The MySQL/MariaDB dialect runs the shared conformance suite on a real server."""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite import DialectConformance
from dbkeeper.urls import DatabaseURL

pytestmark = pytest.mark.mysql

ER_NO_SUCH_THREAD = 1094


class TestMySQLConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, dbkeeper_mysql_url: DatabaseURL) -> DatabaseURL:
        return dbkeeper_mysql_url

    def session_id(self, connection: DatabaseConnection) -> Any:
        """Every session the pool holds, not only the one answering ``CONNECTION_ID()``.

        Which pooled connection serves the next statement is the pool's
        choice (LIFO today: the one that answered this query; FIFO would pick
        another), so the test kills them all. Each test has a scratch database
        of its own, so the sessions using it are exactly this pool's (plus
        reflection's, which may go as well).
        """
        own = connection.execute("SELECT CONNECTION_ID() AS id").scalar()
        others = connection.execute(
            "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE()").rows
        return sorted({int(own), *(int(r["id"]) for r in others)})

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        from dbkeeper.errors import QueryError

        for session_id in session:
            try:
                admin.execute(f"KILL CONNECTION {int(session_id)}")
            except QueryError as exc:
                if exc.sqlstate != str(ER_NO_SUCH_THREAD):
                    raise
