"""The monitoring step of ``dbkeeper demo``, on a real SQLite file (and the server dialects)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.demo.monitoring import REPORT_FILE, TABLE, run_monitoring_demo
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.monitoring.plans import indexed_tables
from dbkeeper.urls import DatabaseURL


def run(directory: Path, url: str) -> list[str]:
    lines: list[str] = []
    run_monitoring_demo(directory, url, lines.append)
    return lines


def test_demo_finds_the_missing_index_and_the_fix_turns_the_scan_into_a_search(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dbkeeper-demo.db'}"
    with DatabaseConnection.from_url(url) as conn:  # the demo database already has tables of its own
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.bulk_insert("customers", [(i, f"c{i}") for i in range(10_000)], ["id", "name"])
    lines = run(tmp_path, url)
    text = "\n".join(lines)
    assert "fix: CREATE INDEX \"ix_demo_events_customer_id\"" in text
    assert "plan before: SCAN demo_events" in text
    assert "plan after:  SEARCH demo_events USING INDEX ix_demo_events_customer_id" in text
    assert (tmp_path / REPORT_FILE).read_text().count("<svg") == 2
    assert (tmp_path / "workspace" / "monitoring.sqlite3").exists()
    with DatabaseConnection.from_url(url) as conn:
        plan = conn.explain(f"SELECT id FROM {TABLE} WHERE customer_id = ?", (3,))
        assert TABLE in indexed_tables(plan)
        assert conn.execute("SELECT COUNT(*) FROM customers").scalar() == 10_000  # untouched


def test_demo_runs_again_in_the_same_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dbkeeper-demo.db'}"
    first = run(tmp_path, url)
    second = run(tmp_path, url)
    assert [line.split(":")[0] for line in first] == [line.split(":")[0] for line in second]


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_demo_works_on_the_server_dialects(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    text = "\n".join(run(tmp_path, url.render(hide_password=False)))
    assert "ix_demo_events_customer_id" in text
    assert "plan after:" in text
