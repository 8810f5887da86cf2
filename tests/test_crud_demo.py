"""The CRUD walk-through that ``dbkeeper demo`` runs, on every dialect."""

from __future__ import annotations

import pytest

from dbkeeper import DatabaseManager
from dbkeeper.crud.read_cache import QueryCache
from dbkeeper.demo.crud import TABLE, run_crud_demo
from dbkeeper.urls import DatabaseURL


@pytest.mark.parametrize("kind", [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
])
def test_the_crud_demo_runs_and_checks_itself(kind: str, request: pytest.FixtureRequest) -> None:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    lines: list[str] = []
    manager = DatabaseManager(url)
    try:
        facts = run_crud_demo(manager, lines.append)
        assert facts == {"crud_rows": 6, "cache_hits": 2, "cache_misses": 2}
        assert manager.cache is None  # the demo switched its own cache off again
        assert any("refused before any SQL" in line and "all_rows=True" in line for line in lines)
        assert any("did you mean 'price'" in line for line in lines)
        again = run_crud_demo(manager, lines.append)  # re-runnable: it recreates its table
        assert again["crud_rows"] == 6
        assert TABLE in manager.get_tables()
    finally:
        manager.close_pool()


def test_the_crud_demo_uses_an_existing_cache(dbkeeper_sqlite_url: DatabaseURL) -> None:
    cache = QueryCache()
    manager = DatabaseManager(dbkeeper_sqlite_url, cache=cache)
    try:
        facts = run_crud_demo(manager, lambda line: None)
        assert facts["cache_hits"] >= 2
        assert manager.cache is cache
    finally:
        manager.close_pool()
