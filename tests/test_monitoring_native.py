"""Native statistics per dialect: what a role may not read is "unavailable", never a number; counters become rates."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.monitoring.advisor import advise
from dbkeeper.monitoring.api import DatabasePerformanceMonitor
from dbkeeper.monitoring.native import collect_native, counter_rates, unexplained
from dbkeeper.urls import DatabaseURL


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def url(request: pytest.FixtureRequest, workspace: Path) -> DatabaseURL:
    value: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return value



def test_every_unavailable_statistic_has_a_reason(url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
        native = collect_native(conn)
    assert native["supported"] is True
    assert unexplained(native) == [], native["unavailable"]
    assert isinstance(native["table_stats"], list)
    assert [t["table"] for t in native["table_stats"]] == ["t"]
    if conn.dialect.name == "sqlite":
        assert native["sessions"] is None and "embedded" in native["unavailable"]["sessions"]
        assert native["page_count"] >= 1
    else:
        assert native["max_connections"] > 0
        assert native["connections_total"] >= 1
        assert isinstance(native["sessions"], list)


def test_postgres_without_pg_stat_statements_reports_it_unavailable(dbkeeper_postgres_url: DatabaseURL,
                                                                    workspace: Path) -> None:
    with DatabaseConnection.from_url(dbkeeper_postgres_url) as conn:
        native = collect_native(conn)
        assert native["pg_stat_statements"] is None
        assert "not installed" in native["unavailable"]["pg_stat_statements"]
        # Installed but not in shared_preload_libraries (as on the test server): still unavailable, no error.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        loaded = conn.execute("SELECT current_setting('shared_preload_libraries')").scalar()
        native = collect_native(conn)
    if "pg_stat_statements" in str(loaded):
        assert isinstance(native["pg_stat_statements"], list)
    else:
        assert native["pg_stat_statements"] is None
        assert "not readable" in native["unavailable"]["pg_stat_statements"]


def test_postgres_role_without_pg_read_all_stats_sees_hidden_sessions_as_unavailable(
        dbkeeper_postgres_url: DatabaseURL, workspace: Path) -> None:
    role = f"dbk_limited_{uuid.uuid4().hex[:8]}"
    with DatabaseConnection.from_url(dbkeeper_postgres_url, name="admin") as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        try:
            limited_url = DatabaseURL.parse(
                dbkeeper_postgres_url.render(hide_password=False).replace("//postgres@", f"//{role}@"))
            with DatabaseConnection.from_url(limited_url, name="limited") as limited:
                admin.execute("SELECT 1")  # the superuser's session is connected to the same database
                native = collect_native(limited)
                advice = advise(limited, native=native)
        finally:
            admin.execute(f"DROP ROLE {role}")
    assert native["sessions_hidden"] >= 1
    assert "pg_read_all_stats" in native["unavailable"]["sessions_hidden"]
    assert "pg_read_all_stats" in advice.unavailable["long_running_query"]
    assert "pg_read_all_stats" in advice.unavailable["idle_in_transaction"]
    assert unexplained(native) == [], native["unavailable"]


def test_mysql_without_performance_schema_or_process_privilege_reports_unavailable(
        dbkeeper_mysql_url: DatabaseURL, workspace: Path) -> None:
    user = f"dbk_lim_{uuid.uuid4().hex[:8]}"
    database = dbkeeper_mysql_url.database
    with DatabaseConnection.from_url(dbkeeper_mysql_url, name="admin") as admin:
        enabled = int(admin.execute("SELECT @@performance_schema").scalar() or 0)
        admin.execute(f"CREATE USER '{user}'@'%'")
        admin.execute(f"CREATE USER '{user}'@'localhost'")
        try:
            for host in ("%", "localhost"):
                admin.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")
            limited_url = DatabaseURL.parse(
                dbkeeper_mysql_url.render(hide_password=False).replace("//root@", f"//{user}@"))
            with DatabaseConnection.from_url(limited_url, name="limited") as limited:
                limited.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
                native = collect_native(limited)
                advice = advise(limited, native=native)
        finally:
            admin.execute(f"DROP USER '{user}'@'%'")
            admin.execute(f"DROP USER '{user}'@'localhost'")
    assert unexplained(native) == [], native["unavailable"]
    assert native["sessions"] is None
    assert "PROCESS" in native["unavailable"]["sessions"]
    assert "PROCESS" in advice.unavailable["long_running_query"]
    assert "innodb_table_stats" in advice.unavailable["planner_statistics"]
    if not enabled:  # the shared server's default; the enabled path: test_monitoring_native_enabled.py
        for key in ("index_usage", "statement_digests", "performance_schema_digests"):
            assert native[key] is None
            assert "performance_schema=ON" in native["unavailable"][key]
        assert "performance_schema" in advice.unavailable["unused_index"]


def test_counter_rates_from_two_snapshots() -> None:
    before = {"counters": ["a", "b"], "a": 100, "b": 10, "reset_marker": "r1"}
    after = {"counters": ["a", "b"], "a": 160, "b": 10, "reset_marker": "r1"}
    rates = counter_rates(before, after, 2.0)
    assert rates["reset"] is False
    assert rates["rates"] == {"a": 30.0, "b": 0.0}


@pytest.mark.parametrize("after", [
    {"counters": ["a", "b"], "a": 5, "b": 20, "reset_marker": "r1"},  # a counter went down
    {"counters": ["a", "b"], "a": 200, "b": 20, "reset_marker": "r2"},  # statistics were reset
    {"counters": ["a", "b"], "a": 200, "b": 20, "reset_marker": "r1", "uptime": 3},  # server restarted
])
def test_counter_rates_detect_a_reset_and_give_no_number(after: dict[str, Any]) -> None:
    before = {"counters": ["a", "b"], "a": 100, "b": 10, "reset_marker": "r1", "uptime": 500}
    rates = counter_rates(before, after, 2.0)
    assert rates["reset"] is True
    assert rates["rates"] == {"a": None, "b": None}
    assert "reset" in rates["unavailable"]["a"]


def test_counter_missing_from_a_snapshot_is_unavailable() -> None:
    rates = counter_rates({"counters": ["a"], "a": None}, {"counters": ["a"], "a": 4}, 1.0)
    assert rates["rates"] == {"a": None}
    assert rates["unavailable"]["a"] == "not reported in both snapshots"


def test_the_second_analysis_turns_counters_into_rates(url: DatabaseURL, workspace: Path) -> None:
    monitor = DatabasePerformanceMonitor(workspace)
    with DatabaseConnection.from_url(url, name="rated") as conn:
        first = monitor.collect_native_metrics(conn)
        for _ in range(10):
            conn.execute("SELECT 1")
        second = monitor.collect_native_metrics(conn)
    assert first["rates"] is None
    assert "second snapshot" in first["unavailable"]["rates"]
    rates = second["rates"]
    assert rates is not None and rates["reset"] is False
    if conn.dialect.name == "sqlite":
        assert rates["rates"] == {}  # SQLite has no cumulative counters
    else:
        assert rates["rates"] and all(v is None or v >= 0 for v in rates["rates"].values())
        key = "xact_commit" if conn.dialect.name == "postgres" else "questions"
        assert rates["rates"][key] is not None
