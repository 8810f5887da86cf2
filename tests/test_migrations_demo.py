"""The migration step of ``dbkeeper demo`` runs, checks itself, and reports what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.demo.migrations import HISTORY, run_migrations_demo
from dbkeeper.urls import DatabaseURL

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_migration_demo_runs_end_to_end(tmp_path: Path, request: pytest.FixtureRequest, dialect: str) -> None:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{dialect}_url")
    lines: list[str] = []
    run_migrations_demo(tmp_path, url.render(hide_password=False), lines.append)
    text = "\n".join(lines)
    assert "dry run: 3 migrations, 5 statements, nothing changed" in text
    assert "edited an applied migration: refused" in text
    assert "FAILED 0004" in text
    assert "up again: re-applied 0003, 0004" in text
    assert f"history table {HISTORY}: 4 applied" in text
    assert sorted(p.name for p in (tmp_path / "migrations").iterdir()) == [
        "0001_create_catalog.down.sql", "0001_create_catalog.up.sql", "0002_add_price.json",
        "0003_index_names.json", "0004_broken.down.sql", "0004_broken.up.sql"]
