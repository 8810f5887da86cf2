"""The schema step of ``dbkeeper demo``: migrates to the changed definition and re-runs cleanly."""

from __future__ import annotations

from pathlib import Path

from dbkeeper.demo.schema import HISTORY_TABLE, run_schema_demo
from dbkeeper.engine.connection import DatabaseConnection


def test_schema_demo_migrates_and_shows_an_empty_rediff_and_can_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    for _ in range(2):
        lines: list[str] = []
        run_schema_demo(tmp_path, url, lines.append)
        assert any(line.startswith("applied generated migration") for line in lines), lines
        assert lines[-1] == "re-diff: empty, the database matches the definition"
        assert "rename column schema_demo_posts.body to content" in lines[1]
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        tables = conn.get_tables()
    assert {"customers", "schema_demo_posts", "schema_demo_authors", HISTORY_TABLE} <= set(tables)
