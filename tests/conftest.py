"""Shared fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from dbkeeper.plugins import PluginRegistry, set_registry


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
