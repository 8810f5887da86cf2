"""``dbkeeper monitor``, ``dbkeeper monitor report`` and ``dbkeeper optimize``, run through click's test runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.monitor import monitor, optimize
from dbkeeper.engine.manager import DatabaseManager
from dbkeeper.urls import DatabaseURL


@pytest.fixture
def workspace(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared fresh workspace (``tests/conftest.py``), and no default connection from the environment."""
    monkeypatch.delenv("DBKEEPER_URL", raising=False)
    return workspace


@pytest.fixture(params=["sqlite", "postgres"])
def busy_url(request: pytest.FixtureRequest, workspace: Path) -> str:
    """A database with a 5,000-row table an application queried 30 times by an unindexed column."""
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    manager = DatabaseManager(url)
    try:
        manager.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total INTEGER)")
        manager.bulk_insert("orders", [(i, i % 300, i) for i in range(5_000)], ["id", "customer", "total"])
        for customer in range(30):
            manager.execute("SELECT id, total FROM orders WHERE customer = ?", (customer,))
    finally:
        manager.close_pool()  # flushes the recorder: the CLI reads the store like any other process
    return url.render(hide_password=False)


def test_monitor_once_prints_one_json_snapshot(busy_url: str) -> None:
    result = CliRunner().invoke(monitor, ["--db", busy_url, "--once", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    snapshot = json.loads(lines[0])
    assert snapshot["queries"]["samples"] >= 30
    assert snapshot["native"]["supported"] is True
    assert snapshot["queries"]["top_by_total_time"][0]["calls"] >= 1


def test_monitor_with_count_and_interval_ends_by_itself(busy_url: str) -> None:
    result = CliRunner().invoke(monitor, ["--db", busy_url, "--count", "2", "--interval", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.output.count("statements recorded") == 2
    assert "SELECT id, total FROM orders WHERE customer = ?" in result.output
    if busy_url.startswith("postgres"):
        assert "database counters" in result.output  # the second snapshot has rates


def test_report_json_and_self_contained_html(busy_url: str, tmp_path: Path) -> None:
    html_file = tmp_path / "report.html"
    result = CliRunner().invoke(monitor, ["report", "--db", busy_url, "--json", "--html", str(html_file)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"query_performance", "database_performance", "alerts", "recommendations"} <= data.keys()
    assert data["query_performance"]["samples"] >= 30
    # PostgreSQL may also (rightly) ask for ANALYZE of the new table until autovacuum gets to it
    assert [r["kind"] for r in data["recommendations"] if r["kind"] != "missing_statistics"] == ["missing_index"]
    page = html_file.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # latency over time, top statements
    assert "<polyline" in page and "<rect" in page
    assert not re.search(r"<script|<link|<img|src=|url\(", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * 2
    assert "missing_index" in page


def test_report_text_has_every_section(busy_url: str) -> None:
    result = CliRunner().invoke(monitor, ["--db", busy_url, "report"])  # options may precede the subcommand
    assert result.exit_code == 0, result.output
    assert "Performance report" in result.output
    assert "top statements" in result.output
    assert "missing_index orders" in result.output


def test_optimize_json_gives_the_index_fix(busy_url: str) -> None:
    result = CliRunner().invoke(optimize, ["--db", busy_url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    fixes = [r["fix"] for r in data["recommendations"] if r["kind"] != "missing_statistics"]
    assert len(fixes) == 1
    assert "ix_orders_customer" in fixes[0]
    assert data["unavailable"] == {} or "missing_index" not in data["unavailable"]


def test_optimize_text(busy_url: str) -> None:
    result = CliRunner().invoke(optimize, ["--db", busy_url])
    assert result.exit_code == 0, result.output
    assert "1. missing_index orders [high]" in result.output
    assert "fix: CREATE INDEX" in result.output


def test_a_clean_database_has_no_recommendations(dbkeeper_sqlite_url: DatabaseURL, workspace: Path) -> None:
    with DatabaseManager(dbkeeper_sqlite_url) as manager:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    result = CliRunner().invoke(optimize, ["--db", dbkeeper_sqlite_url.render()])
    assert result.exit_code == 0, result.output
    assert "no recommendations" in result.output


def test_passwords_never_reach_the_output(dbkeeper_postgres_url: DatabaseURL, workspace: Path) -> None:
    url = dbkeeper_postgres_url.render(hide_password=False).replace("//postgres@", "//postgres:Sup3rSecret@")
    for command, args in ((optimize, ["--json"]), (monitor, ["--once", "--json"]), (monitor, ["report"])):
        result = CliRunner().invoke(command, ["--db", url, *args])
        assert result.exit_code == 0, result.output
        assert "Sup3rSecret" not in result.output
    bad = url.replace("127.0.0.1:5432", "127.0.0.1:1")
    result = CliRunner().invoke(optimize, ["--db", bad])
    assert result.exit_code == 1
    assert "Sup3rSecret" not in result.output


def test_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path: Path, workspace: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(optimize, ["--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert not missing.exists()


def test_commands_work_under_the_dbkeeper_group_as_they_will_be_registered(
        dbkeeper_sqlite_url: DatabaseURL, workspace: Path) -> None:
    """The lines proposed for ``BUILTIN_COMMANDS``, tried on a group of the same class."""
    import click

    from dbkeeper.cli._group import DbKeeperGroup

    @click.group(cls=DbKeeperGroup, lazy_commands={"monitor": "dbkeeper.cli.commands.monitor:monitor",
                                                   "optimize": "dbkeeper.cli.commands.monitor:optimize"})
    def root() -> None:
        """A stand-in for the ``dbkeeper`` group."""

    with DatabaseManager(dbkeeper_sqlite_url) as manager:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    url = dbkeeper_sqlite_url.render()
    runner = CliRunner()
    assert runner.invoke(root, ["monitor", "--db", url, "--once"]).exit_code == 0
    assert runner.invoke(root, ["monitor", "report", "--db", url, "--json"]).exit_code == 0
    result = runner.invoke(root, ["optimize", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recommendations"] == []
    result = runner.invoke(root, ["optimize", "--db", "nosuchscheme://x/y"])
    assert result.exit_code == 2
    assert "error:" in result.output
