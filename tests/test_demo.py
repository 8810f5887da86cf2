"""``dbkeeper demo``: the showcase runs end to end on a real SQLite file and verifies itself."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import dbkeeper.demo.runner
from dbkeeper.cli import cli
from dbkeeper.demo.runner import (
    COMMITTED_STATUS,
    CONFIG_FILE,
    CUSTOMERS,
    DATABASE_FILE,
    ORDERS,
    ROLLED_BACK_STATUS,
    STEPS,
    DemoContext,
    DemoError,
    Step,
    format_table,
    run_demo,
)
from dbkeeper.errors import QueryError

_DBKEEPER_ENV = ("DBKEEPER_URL", "DBKEEPER_CONFIG", "DBKEEPER_DISABLE_PLUGINS", "DBKEEPER_STRICT_PLUGINS")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _DBKEEPER_ENV}


def count(path: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def assert_demo_database(path: Path) -> None:
    """The file holds the bulk-loaded rows plus the transaction step's committed order, not its rolled-back one."""
    assert count(path, "SELECT COUNT(*) FROM customers") == CUSTOMERS
    assert count(path, "SELECT COUNT(*) FROM orders") == ORDERS + 1
    assert count(path, "SELECT COUNT(*) FROM orders WHERE status = ?", (COMMITTED_STATUS,)) == 1
    assert count(path, "SELECT COUNT(*) FROM orders WHERE status = ?", (ROLLED_BACK_STATUS,)) == 0
    assert count(path, "SELECT COUNT(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
                       "WHERE c.id IS NULL") == 0


def test_demo_runs_end_to_end_and_keeps_the_database_in_the_given_dir(tmp_path: Path) -> None:
    target = tmp_path / "showcase"
    proc = subprocess.run([sys.executable, "-m", "dbkeeper.cli", "demo", "--dir", str(target)], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for index, step in enumerate(STEPS, start=1):
        assert f"[{index}/{len(STEPS)}] {step.title}" in proc.stdout
    assert "\x1b[" not in proc.stdout  # not a terminal: plain text
    assert_demo_database(target / DATABASE_FILE)
    # The dbkeeper.toml it leaves behind is a working config: its default connection is the demo database.
    tables = subprocess.run([sys.executable, "-m", "dbkeeper.cli", "tables"], cwd=target, env=clean_env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert tables.returncode == 0, tables.stderr
    assert tables.stdout.split() == ["crud_products", "customers", "dbkeeper_demo_migrations",
                                     "dbkeeper_schema_demo_migrations", "demo_catalog", "demo_events",
                                     "demo_half_done", "orders", "schema_demo_authors", "schema_demo_posts"]


def test_demo_without_a_dir_cleans_up_its_temporary_directory() -> None:
    lines: list[str] = []
    result = run_demo(output=lines.append)
    assert not result.kept
    assert not result.directory.exists()
    counts = dict(result.row_counts)
    assert counts.pop("crud_products") > 0  # run_crud_demo checks its own rows
    # The migration step's tables (3 catalog rows, the fixed 0004's empty table, 4 history rows), the schema
    # step's two empty tables and its one generated migration, and the monitoring step's 20,000 events.
    assert counts == {"customers": CUSTOMERS, "orders": ORDERS + 1, "demo_catalog": 3, "demo_half_done": 0,
                      "dbkeeper_demo_migrations": 4, "demo_events": 20_000, "schema_demo_authors": 0,
                      "schema_demo_posts": 0, "dbkeeper_schema_demo_migrations": 1}
    assert [timing.title for timing in result.steps] == [step.title for step in STEPS]
    assert any(str(result.directory) in line for line in lines)


def test_demo_reports_the_row_counts_of_the_file_it_leaves(tmp_path: Path) -> None:
    result = run_demo(tmp_path, output=lambda _line: None)
    assert result.kept
    assert result.database == (tmp_path / DATABASE_FILE).resolve()
    for table, rows in result.row_counts.items():
        assert count(result.database, f"SELECT COUNT(*) FROM {table}") == rows
    assert (tmp_path / CONFIG_FILE).is_file()


def test_demo_can_run_again_in_the_same_directory(tmp_path: Path) -> None:
    first = run_demo(tmp_path, output=lambda _line: None)
    second = run_demo(tmp_path, output=lambda _line: None)
    assert second.row_counts == first.row_counts
    assert_demo_database(tmp_path / DATABASE_FILE)


def test_a_failing_step_stops_the_demo_with_an_error_naming_it(tmp_path: Path) -> None:
    ran: list[str] = []
    leaked: list[DemoContext] = []

    def broken(ctx: DemoContext) -> None:
        leaked.append(ctx)
        ctx.manager.execute("SELECT * FROM no_such_table")

    steps = [*STEPS[:3], Step("Broken on purpose", broken), Step("Never runs", lambda ctx: ran.append("ran"))]
    with pytest.raises(DemoError, match=r"step 4/5 \(Broken on purpose\)") as caught:
        run_demo(tmp_path, output=lambda _line: None, steps=steps)
    assert isinstance(caught.value.__cause__, QueryError)
    assert ran == []
    assert not leaked[0].connection.is_connected


def test_the_cli_exits_1_when_a_step_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: DemoContext) -> None:
        ctx.manager.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(dbkeeper.demo.runner, "STEPS", [*STEPS[:2], Step("Broken on purpose", broken)])
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: demo step 3/3 (Broken on purpose) failed")
    assert "no such table" in result.stderr
    assert "Traceback" not in result.output


def test_a_later_capability_adds_a_step_that_sees_the_database(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def extra_step(ctx: DemoContext) -> None:
        seen["orders"] = ctx.count("orders")
        ctx.say(f"orders: {seen['orders']}")

    lines: list[str] = []
    run_demo(tmp_path, output=lines.append, steps=[*STEPS, Step("A later capability", extra_step)])
    assert seen == {"orders": ORDERS + 1}
    assert f"  orders: {ORDERS + 1}" in lines


def test_format_table_aligns_text_left_and_numbers_right() -> None:
    lines = format_table(["name", "rows"], [["a", 5], ["longer", 12345]])
    assert lines == ["name     rows", "------  -----", "a           5", "longer  12345"]
