"""Shared fixtures for the core tests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from dbkeeper.engine.plugins import PluginRegistry, set_registry
from dbkeeper.monitoring.recorder import get_recorder
from dbkeeper.testing import private_servers, servers
from dbkeeper.testing.pytest_plugin import isolate_workspace, unavailable
from dbkeeper.urls import DatabaseURL


def pytest_configure(config: pytest.Config) -> None:
    """Every test of this run records into a workspace of its own, not the user's (even without a fixture)."""
    isolate_workspace(config)


@pytest.fixture
def installed_entry_points() -> list[EntryPoint]:
    """The real entry points of the installed dbkeeper plugins."""
    return list(entry_points(group="dbkeeper"))


@pytest.fixture
def use_registry() -> Iterator[object]:
    """Install a registry for the test and restore the process-wide one afterwards."""
    previous: list[PluginRegistry | None] = []

    def install(registry: PluginRegistry) -> PluginRegistry:
        previous.append(set_registry(registry))
        return registry

    yield install
    if previous:
        set_registry(previous[0])


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where a test writes plugin modules."""
    path = tmp_path / "plugin_modules"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


# -- monitoring --------------------------------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh workspace; whatever other tests left in the process recorder is dropped first."""
    path = tmp_path / "workspace"
    monkeypatch.setenv("DBKEEPER_WORKSPACE", str(path))
    monkeypatch.delenv("DBKEEPER_MONITORING", raising=False)
    get_recorder().drain()
    yield path
    get_recorder().drain()


# -- private servers ----------------------------------------------------------------------------------------
# The shared servers run without pg_stat_statements preloaded and with performance_schema OFF, and must not
# be restarted (every other test uses them). Tests of monitoring's "enabled" paths get a throw-away server
# of their own, started once per test session -- per pytest-xdist worker, and only in a worker that runs such
# a test -- and gone afterwards (see dbkeeper.testing.private_servers).
def _private_server(start: Callable[[], private_servers.PrivateServer]) -> Iterator[private_servers.PrivateServer]:
    try:
        server = start()
    except private_servers.PrivateServerUnavailable as exc:
        unavailable(f"private server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_postgres_server() -> Iterator[private_servers.PrivateServer]:
    """A private PostgreSQL with ``pg_stat_statements`` preloaded and created in ``template1``."""
    yield from _private_server(private_servers.start_postgres)


@pytest.fixture(scope="session")
def private_mariadb_server() -> Iterator[private_servers.PrivateServer]:
    """A private MariaDB with ``performance_schema`` on (statement digests, per-index I/O)."""
    yield from _private_server(private_servers.start_mariadb)


@pytest.fixture
def private_postgres_url(private_postgres_server: private_servers.PrivateServer) -> Iterator[DatabaseURL]:
    """A scratch database on the private PostgreSQL (it has the extension: it is made from template1)."""
    with servers.scratch_database(private_postgres_server.url) as url:
        yield url


@pytest.fixture
def private_mariadb_url(private_mariadb_server: private_servers.PrivateServer) -> Iterator[DatabaseURL]:
    """A scratch database on the private MariaDB."""
    with servers.scratch_database(private_mariadb_server.url) as url:
        yield url


@pytest.fixture(autouse=True)
def _seed_logger_left_as_found() -> Iterator[None]:
    """The pooled-CRUD seed form gives the process-wide ``DatabaseManager`` logger a stderr handler, as its
    document does; a test that builds one must not leave it to print into the next test's captured stderr."""
    log = logging.getLogger("DatabaseManager")
    handlers, level = list(log.handlers), log.level
    yield
    log.handlers[:] = handlers
    log.setLevel(level)
