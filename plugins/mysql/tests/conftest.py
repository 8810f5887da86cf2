"""Fixtures for the MySQL plugin's tests: an isolated workspace, and private MariaDB servers when asked for.

The shared MariaDB keeps no binary log and runs with ``performance_schema``
off, and must never be restarted; tests that need either get a throw-away
server of their own from this plugin's provisioning
(:mod:`dbkeeper_mysql.provision`, through the core's ``start_server`` point),
started once per test session and pytest-xdist worker, only where such a test
runs, and gone afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbkeeper.testing import servers
from dbkeeper.testing.provision import PrivateServer, PrivateServerUnavailable, start_server
from dbkeeper.testing.pytest_plugin import isolate_workspace, unavailable
from dbkeeper.urls import DatabaseURL


def pytest_configure(config: pytest.Config) -> None:
    """Every test of this run records into a workspace of its own, not the user's (even without a fixture)."""
    isolate_workspace(config)


def _private_mariadb(**options: Any) -> Iterator[PrivateServer]:
    try:
        server: PrivateServer = start_server("mysql", **options)
    except PrivateServerUnavailable as exc:
        unavailable(f"private server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_mariadb_server() -> Iterator[PrivateServer]:
    """A private MariaDB with ``performance_schema`` on (statement digests, per-index I/O)."""
    yield from _private_mariadb()


@pytest.fixture(scope="session")
def private_mariadb_binlog_server() -> Iterator[PrivateServer]:
    """A private MariaDB with a row-based binary log (the shared server has none and must not be restarted)."""
    from dbkeeper_mysql.provision import MARIADB_BINLOG_OPTIONS, MARIADB_OPTIONS

    yield from _private_mariadb(options=(*MARIADB_OPTIONS, *MARIADB_BINLOG_OPTIONS))


@pytest.fixture
def private_mariadb_url(private_mariadb_server: PrivateServer) -> Iterator[DatabaseURL]:
    """A scratch database on the private MariaDB."""
    with servers.scratch_database(private_mariadb_server.url) as url:
        yield url
