"""The private servers tests start for settings the shared servers lack: they come up as asked, and go completely.

A private server that outlived its test session would hold a port, memory and
a temporary directory on the CI machine, so each kind is started here on its
own and checked for leftovers after it stopped; a server that cannot start
must say why (its log), not hang or pass for a missing binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing import private_servers
from dbkeeper.testing.private_servers import PrivateServer, PrivateServerError, PrivateServerUnavailable
from dbkeeper.testing.pytest_plugin import unavailable

T = TypeVar("T")


def available(step: Callable[[], T]) -> T:
    """``step()``, or a skip (a failure under DBKEEPER_REQUIRE_SERVERS=1) when this machine lacks the server."""
    try:
        return step()
    except PrivateServerUnavailable as exc:
        unavailable(f"private server unavailable: {exc}")


def assert_gone(server: PrivateServer) -> None:
    """The server's process group has no process left and its directory is deleted."""
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(server.process.pid, 0)  # signal 0 only asks whether the group still exists
    assert not server.directory.exists()


def test_private_postgres_preloads_pg_stat_statements_and_leaves_nothing_behind() -> None:
    server = available(private_servers.start_postgres)
    try:
        assert server.url.host == "127.0.0.1" and server.url.port
        assert server.startup_seconds < private_servers.START_TIMEOUT
        with DatabaseConnection.from_url(server.url.with_database("template1"), record_queries=False) as conn:
            assert conn.execute("SELECT current_setting('shared_preload_libraries')").scalar() == "pg_stat_statements"
            assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'").scalar()
            assert conn.execute("SELECT current_setting('fsync')").scalar() == "off"
    finally:
        server.stop()
    assert_gone(server)
    server.stop()  # a second stop is harmless


def test_private_mariadb_runs_performance_schema_and_leaves_nothing_behind() -> None:
    server = available(private_servers.start_mariadb)
    try:
        assert server.url.database == "test"
        with DatabaseConnection.from_url(server.url, record_queries=False) as conn:
            assert conn.execute("SELECT @@performance_schema").scalar() == 1
            digests = conn.execute(
                "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'"
            ).scalar()
            assert digests == "YES"
            assert conn.execute("SELECT DATABASE()").scalar() == "test"
    finally:
        server.stop()
    assert_gone(server)


def test_mariadb_servers_started_at_once_all_come_up_and_one_keeps_a_binary_log() -> None:
    """Test workers start private servers at the same moment; their set-ups must not share temporary files
    (they did in /tmp: one in about ten concurrent installs failed)."""
    options = [private_servers.MARIADB_OPTIONS,
               (*private_servers.MARIADB_OPTIONS, *private_servers.MARIADB_BINLOG_OPTIONS),
               private_servers.MARIADB_OPTIONS]
    with ThreadPoolExecutor(len(options)) as pool:
        futures = [pool.submit(private_servers.start_mariadb, options=each) for each in options]
        servers = [available(future.result) for future in futures]
    try:
        logging = []
        for server in servers:
            with DatabaseConnection.from_url(server.url, record_queries=False) as conn:
                logging.append((conn.execute("SELECT @@log_bin").scalar(),
                                conn.execute("SELECT @@binlog_format").scalar()))
        assert [bool(on) for on, _ in logging] == [False, True, False]
        assert logging[1][1] == "ROW"
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert_gone(server)


def test_a_server_that_does_not_come_up_fails_with_its_log() -> None:
    available(private_servers.postgres_bindir)  # skip where PostgreSQL is not installed at all
    with pytest.raises(PrivateServerError, match="shared_buffers"):
        private_servers.start_postgres(settings={"shared_buffers": "plenty"})


def test_a_library_that_is_not_installed_makes_the_server_unavailable() -> None:
    available(private_servers.postgres_bindir)
    with pytest.raises(PrivateServerUnavailable, match="dbk_no_such_library"):
        private_servers.start_postgres(preload=("dbk_no_such_library",), extensions=())


def test_the_old_names_dispatch_to_the_plugins_provisioning() -> None:
    """``private_servers`` boots nothing itself: its names resolve to the plugins' ``provision`` modules."""
    import dbkeeper_mysql.provision
    import dbkeeper_postgres.provision
    from dbkeeper.testing.provision import start_server

    assert private_servers.MARIADB_OPTIONS is dbkeeper_mysql.provision.MARIADB_OPTIONS
    assert private_servers.POSTGRES_PRELOAD is dbkeeper_postgres.provision.POSTGRES_PRELOAD
    assert private_servers.postgres_bindir is dbkeeper_postgres.provision.postgres_bindir
    assert start_server.implementation("postgres") is dbkeeper_postgres.provision.start_postgres
    assert start_server.implementation("mysql") is dbkeeper_mysql.provision.start_mariadb
    with pytest.raises(AttributeError, match="no attribute 'start_oracle'"):
        private_servers.start_oracle  # noqa: B018 - the access is the test


def test_a_dialect_whose_plugin_provisions_no_server_is_unavailable_not_an_error() -> None:
    from dbkeeper.testing.provision import start_server

    with pytest.raises(PrivateServerUnavailable, match="no installed plugin provisions 'start_server' for dialect "
                                                       "'sqlite'"):
        start_server("sqlite")
    with pytest.raises(PrivateServerUnavailable, match="the nosuchdialect dialect is not installed"):
        start_server("nosuchdialect")
