"""Fixtures for the Redis plugin's tests: scratch databases on the real server, never mocks.

Each test that needs a database claims an empty numbered one of its own
(:mod:`dbkeeper_redis.scratch`: an atomic Lua check-and-mark, so the two
pytest-xdist workers never share one) through the core's generic
``scratch_database`` helper, and flushes only that database afterwards.
The server is ``DBKEEPER_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbkeeper.testing import servers
from dbkeeper.testing.pytest_plugin import isolate_workspace, unavailable
from dbkeeper.urls import DatabaseURL


def pytest_configure(config: pytest.Config) -> None:
    """Every test of this run records into a workspace of its own, not the user's (even without a fixture)."""
    isolate_workspace(config)


@pytest.fixture(scope="session")
def redis_admin_url() -> DatabaseURL:
    """The test server's URL, after checking the plugin is installed and the server answers."""
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.errors import UnsupportedDatabaseError

    admin = servers.server_url("redis")
    try:
        get_registry().dialect_for_url(admin)
    except UnsupportedDatabaseError as exc:
        unavailable(f"the redis dialect is not installed: {exc}")
    reason = servers.check_server(admin)
    if reason is not None:
        unavailable(f"redis test server unavailable at {admin.render()}: {reason}")
    return admin


@pytest.fixture
def redis_url(redis_admin_url: DatabaseURL) -> Iterator[DatabaseURL]:
    """URL of an empty numbered database claimed for this test (flushed afterwards)."""
    with servers.scratch_database(redis_admin_url, prefix="dbk_test") as url:
        yield url


@pytest.fixture
def redis_target_url(redis_admin_url: DatabaseURL) -> Iterator[DatabaseURL]:
    """A second claimed database, for restores."""
    with servers.scratch_database(redis_admin_url, prefix="dbk_target") as url:
        yield url
