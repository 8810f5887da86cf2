"""Fixtures of the seed-API tests: one database per dialect the documents allow a URL for.

``seed_url`` runs a test on SQLite, on the shared PostgreSQL and on the
shared MariaDB, each in a scratch database of its own (dropped afterwards);
``seed_url_text`` is the same URL as the text a ported program passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dbkeeper.urls import DatabaseURL

DIALECTS = ("sqlite", "postgresql", "mysql")


@pytest.fixture(params=DIALECTS)
def seed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseURL]:
    """A fresh, empty database on one dialect."""
    if request.param == "sqlite":
        yield DatabaseURL.parse(f"sqlite:///{tmp_path / 'seed.db'}")
        return
    fixture = "dbkeeper_postgres_url" if request.param == "postgresql" else "dbkeeper_mysql_url"
    yield request.getfixturevalue(fixture)


@pytest.fixture
def seed_url_text(seed_url: DatabaseURL) -> str:
    """The URL as a ported program writes it (password included, when it has one)."""
    return seed_url.render(hide_password=False)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in an empty working directory (the documents' examples use relative paths)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DBKEEPER_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.delenv("DBKEEPER_URL", raising=False)
    monkeypatch.delenv("DBKEEPER_CONFIG", raising=False)
    return tmp_path
