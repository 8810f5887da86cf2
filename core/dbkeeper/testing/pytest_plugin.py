"""pytest fixtures for dbkeeper, loaded through the ``pytest11`` entry point.

``dbkeeper_sqlite_url`` gives a fresh SQLite file; ``dbkeeper_postgres_url``
and ``dbkeeper_mysql_url`` give a scratch database of their own on the test
servers (see :mod:`dbkeeper.testing.servers`). A missing server or plugin
skips the test with the reason, or fails it under ``DBKEEPER_REQUIRE_SERVERS=1``.

The plugin is inert in a user's own test run until one of its fixtures is
asked for: loading it imports no dialect, driver or server module and
changes nothing in the environment. The first dbkeeper fixture gives the run
a workspace of its own (``DBKEEPER_WORKSPACE`` pointing at a temporary
directory, removed afterwards) unless the variable is already set: every
statement through a ``DatabaseConnection`` is recorded for the performance
monitor, and a test suite must not fill the user's workspace. A project's
``conftest.py`` that wants that for every test calls
:func:`isolate_workspace` from its own ``pytest_configure`` (dbkeeper's do).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from dbkeeper.urls import DatabaseURL


def isolate_workspace(config: pytest.Config) -> None:
    """Point ``DBKEEPER_WORKSPACE`` at a temporary directory for this run, unless it is set."""
    if os.environ.get("DBKEEPER_WORKSPACE"):
        return
    path = tempfile.mkdtemp(prefix="dbkeeper-test-workspace-")
    os.environ["DBKEEPER_WORKSPACE"] = path

    def cleanup() -> None:
        recorder_module = sys.modules.get("dbkeeper.monitoring.recorder")
        if recorder_module is not None and recorder_module._recorder is not None:
            recorder_module._recorder.stop()  # its last flush still lands in this run's workspace
        if os.environ.get("DBKEEPER_WORKSPACE") == path:
            del os.environ["DBKEEPER_WORKSPACE"]
        shutil.rmtree(path, ignore_errors=True)

    config.add_cleanup(cleanup)


@pytest.fixture(scope="session")
def dbkeeper_workspace(pytestconfig: pytest.Config) -> Path:
    """The run's own workspace directory (made on first use; see :func:`isolate_workspace`)."""
    isolate_workspace(pytestconfig)
    return Path(os.environ["DBKEEPER_WORKSPACE"])


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when servers are required."""
    from dbkeeper.testing import servers

    if servers.servers_required():
        pytest.fail(f"{reason} (DBKEEPER_REQUIRE_SERVERS=1 makes this a failure)")
    pytest.skip(reason)


def require_server(kind: str) -> DatabaseURL:
    """The admin URL of the ``kind`` test server; skips (or, under ``DBKEEPER_REQUIRE_SERVERS=1``, fails) without it.

    The one check a test module needs before it talks to a shared server, so
    that no module skips where CI requires the server.
    """
    from dbkeeper.testing import servers

    url = servers.server_url(kind)
    reason = servers.check_server(url)
    if reason is not None:
        unavailable(f"{kind} server unavailable: {reason}")
    return url


def _server_database(kind: str) -> Iterator[DatabaseURL]:
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.errors import UnsupportedDatabaseError
    from dbkeeper.testing import servers

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
def dbkeeper_sqlite_url(tmp_path: Path, dbkeeper_workspace: Path) -> DatabaseURL:
    """A SQLite file URL in the test's temporary directory."""
    from dbkeeper.urls import DatabaseURL

    return DatabaseURL(scheme="sqlite", database=str(tmp_path / "test.db"))


@pytest.fixture
def dbkeeper_postgres_url(dbkeeper_workspace: Path) -> Iterator[DatabaseURL]:
    """URL of a scratch PostgreSQL database, dropped after the test."""
    yield from _server_database("postgres")


@pytest.fixture
def dbkeeper_mysql_url(dbkeeper_workspace: Path) -> Iterator[DatabaseURL]:
    """URL of a scratch MySQL/MariaDB database, dropped after the test."""
    yield from _server_database("mysql")
