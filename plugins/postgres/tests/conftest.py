"""The postgres plugin's tests record into a workspace of their own, like the core's."""

from __future__ import annotations

import pytest

from dbkeeper.testing.pytest_plugin import isolate_workspace


def pytest_configure(config: pytest.Config) -> None:
    """Every test of this run records into a workspace of its own, not the user's (even without a fixture)."""
    isolate_workspace(config)
