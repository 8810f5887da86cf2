"""Conformance: the pool, threads, killed sessions and secrets.

A pool that is exhausted times out with a clear error, threads share it
safely, a server session killed from outside is survived (``server``), and
no password reaches a repr, an error or a log line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import PoolTimeoutError, QueryError
from dbkeeper.testing.suite._base import SECRET_PASSWORD, ConformanceBase
from dbkeeper.urls import DatabaseURL


class SessionConformance(ConformanceBase):
    """Pooling and session life on every dialect."""

    # -- pools and concurrency ------------------------------------------------------------------
    def test_pool_exhaustion_raises_a_timeout(self, connection: DatabaseConnection) -> None:
        self.requires(connection, "sql")
        self.requires(connection, "transactions")
        held: list[Any] = []
        release = threading.Event()
        ready = threading.Barrier(4)

        def hold() -> None:
            with connection.transaction():
                ready.wait()
                release.wait(10)

        threads = [threading.Thread(target=hold) for _ in range(3)]
        for t in threads:
            t.start()
        ready.wait()
        try:
            with pytest.raises(PoolTimeoutError, match="pool size"):
                connection.execute("SELECT 1")
        finally:
            release.set()
            for t in threads:
                t.join()
        assert not held
        assert connection.execute("SELECT 1 AS x").scalar() == 1

    def test_threads_share_the_pool_safely(self, connection: DatabaseConnection, items: str) -> None:
        errors: list[BaseException] = []

        def work(start: int) -> None:
            try:
                for i in range(start, start + 25):
                    connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", (i, f"t{i}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 150

    def test_a_killed_session_is_survived(self, connection: DatabaseConnection, database_url: DatabaseURL) -> None:
        self.requires(connection, "server")
        self.requires(connection, "sql")
        victim = self.session_id(connection)
        admin = DatabaseConnection.from_url(database_url, name="admin", pool_size=1).connect()
        try:
            self.kill_session(admin, victim)
        finally:
            admin.disconnect()
        assert connection.execute("SELECT 1 AS x").scalar() == 1
        assert connection.get_stats()["reconnects"] >= 1

    # -- secrets --------------------------------------------------------------------------------------
    def test_password_never_appears_in_reprs_errors_or_logs(self, database_url: DatabaseURL,
                                                            caplog: pytest.LogCaptureFixture) -> None:
        from urllib.parse import quote

        if database_url.scheme == "sqlite":
            url = DatabaseURL.parse(f"postgresql://user:{quote(SECRET_PASSWORD, safe='')}@127.0.0.1:1/x")
        else:
            url = DatabaseURL(scheme=database_url.scheme, username=database_url.username,
                              password=SECRET_PASSWORD, host=database_url.host, port=database_url.port,
                              database=database_url.database, query=database_url.query)
        texts: list[str] = [repr(url), str(url), url.render()]
        caplog.set_level(logging.DEBUG, logger="dbkeeper")
        conn = DatabaseConnection.from_url(url, name="secretive", connection_timeout=3, max_retries=0)
        texts += [repr(conn), str(conn), conn.get_connection_string()]
        try:
            conn.connect()
            with pytest.raises(QueryError) as info:
                conn.execute("SELECT * FROM table_that_is_missing WHERE x = ?", (SECRET_PASSWORD,))
            texts.append(str(info.value))
            texts.append(repr(conn.get_database_info()))
            texts.append(repr(conn.health_check()))
        except Exception as exc:  # servers with password auth refuse the made-up password
            texts.append(str(exc))
            texts.append(repr(exc))
        finally:
            conn.disconnect()
        texts.append(caplog.text)
        everything = "\n".join(texts)
        for form in (SECRET_PASSWORD, quote(SECRET_PASSWORD, safe=""), quote(SECRET_PASSWORD)):
            assert form not in everything
