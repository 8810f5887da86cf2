"""The DuckDB test plugin, registered for the tests that ask for it through the plugin API.

``PluginRegistry(extra_plugins=...)`` adds the package next to the installed
plugins, exactly as an entry point would, without editing the core or
installing anything; the process-wide registry is restored afterwards so
no other test sees a dialect it does not expect.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dbkeeper.engine.plugins import PluginRegistry, set_registry
from dbkeeper.urls import DatabaseURL

#: The test-only plugin package lives next to this file (a published plugin would be installed instead).
sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("duckdb", reason="the duckdb driver is in the test extra: pip install -e '.[test]'")


@pytest.fixture
def duckdb_registry() -> Iterator[PluginRegistry]:
    """The installed plugins plus ``dbkeeper_duckdb``, as the process-wide registry for one test."""
    import dbkeeper_duckdb

    registry = PluginRegistry(entry_points=list(entry_points(group="dbkeeper")),
                              extra_plugins=[("duckdb", dbkeeper_duckdb)])
    previous = set_registry(registry)
    try:
        yield registry
    finally:
        set_registry(previous)


@pytest.fixture
def duckdb_url(duckdb_registry: PluginRegistry, tmp_path: Path) -> DatabaseURL:
    """A fresh DuckDB file in the test's temporary directory."""
    return DatabaseURL(scheme="duckdb", database=str(tmp_path / "test.duckdb"))
