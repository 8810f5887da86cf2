"""pytest fixtures for dbkeeper, loaded through the ``pytest11`` entry point.

``dbkeeper_sqlite_url`` gives a fresh SQLite file; ``dbkeeper_postgres_url``
and ``dbkeeper_mysql_url`` give a scratch database of their own on the test
servers (see :mod:`dbkeeper.testing.servers`). A missing server or plugin
skips the test with the reason, or fails it under ``DBKEEPER_REQUIRE_SERVERS=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from dbkeeper.testing import servers
from dbkeeper.urls import DatabaseURL


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when servers are required."""
    if servers.servers_required():
        pytest.fail(f"{reason} (DBKEEPER_REQUIRE_SERVERS=1 makes this a failure)")
    pytest.skip(reason)


def _server_database(kind: str) -> Iterator[DatabaseURL]:
    from dbkeeper.errors import UnsupportedDatabaseError
    from dbkeeper.plugins import get_registry

    admin = servers.server_url(kind)
    try:
        get_registry().dialect_for_url(admin)
    except UnsupportedDatabaseError as exc:
        unavailable(f"the {kind} dialect is not installed: {exc}")
    reason = servers.check_server(admin)
    if reason is not None:
        unavailable(f"{kind} test server unavailable at {admin.render()}: {reason}")
    with servers.scratch_database(admin) as url:
        yield url


@pytest.fixture
def dbkeeper_sqlite_url(tmp_path: Path) -> DatabaseURL:
    """A SQLite file URL in the test's temporary directory."""
    return DatabaseURL(scheme="sqlite", database=str(tmp_path / "test.db"))


@pytest.fixture
def dbkeeper_postgres_url() -> Iterator[DatabaseURL]:
    """URL of a scratch PostgreSQL database, dropped after the test."""
    yield from _server_database("postgres")


@pytest.fixture
def dbkeeper_mysql_url() -> Iterator[DatabaseURL]:
    """URL of a scratch MySQL/MariaDB database, dropped after the test."""
    yield from _server_database("mysql")
