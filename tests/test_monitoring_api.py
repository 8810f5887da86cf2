"""The seed monitoring API: empty analyses, statistics, the report sections and alerts."""

from __future__ import annotations

import time
from pathlib import Path

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.monitoring import DatabaseMetrics, DatabasePerformanceMonitor, monitor_database, optimize_database
from dbkeeper.monitoring.analysis import analyze_samples, percentile
from dbkeeper.monitoring.store import Sample
from dbkeeper.urls import DatabaseURL

SECTIONS = {"query_performance", "database_performance", "alerts", "recommendations"}



def test_monitor_database_without_metrics_returns_the_empty_analysis(workspace: Path) -> None:
    analysis = monitor_database("never-seen", workspace)
    assert analysis["database_name"] == "never-seen"
    assert analysis["metrics"] is None
    assert analysis["native"] == {}
    assert analysis["query_analysis"]["samples"] == 0
    assert analysis["query_analysis"]["top_by_total_time"] == []


def test_optimize_database_without_metrics_returns_empty_sections(workspace: Path) -> None:
    report = optimize_database("never-seen", workspace)
    assert report["database_name"] == "never-seen"
    assert all(report[name] == empty for name, empty in (("query_performance", {}), ("database_performance", {}),
                                                           ("alerts", []), ("recommendations", [])))
    assert "[connections.never-seen]" in report["unavailable"]["recommendations"]


def test_report_without_metrics_has_every_section_empty(workspace: Path) -> None:
    report = DatabasePerformanceMonitor(workspace).get_performance_report("never-seen")
    assert report.keys() >= SECTIONS
    assert all(not report[name] for name in SECTIONS)


def test_record_query_feeds_the_analysis(workspace: Path) -> None:
    monitor = DatabasePerformanceMonitor(workspace)
    base = time.time() - 1000.0  # inside the store's retention window
    for i in range(1, 101):
        monitor.record_query("app", f"SELECT * FROM users WHERE id = {i}", float(i), rows=1, timestamp=base + i)
    monitor.record_query("app", "UPDATE users SET x = 1", 5.0, error=True, timestamp=base + 200.0)
    analysis = monitor.query_analysis("app")
    assert analysis.samples == 101
    assert analysis.errors == 1
    assert analysis.p50_ms == 50.0
    assert analysis.p95_ms == 95.0
    assert analysis.p99_ms == 99.0
    assert analysis.window_seconds == 199.0
    top = analysis.top_by_total_time[0]
    assert (top.fingerprint, top.calls, top.total_ms) == ("SELECT * FROM users WHERE id = ?", 100, 5050.0)
    assert analysis.top_by_total_time[1].error_rate == 1.0


def test_report_sections_and_error_rate_alert(workspace: Path) -> None:
    monitor = DatabasePerformanceMonitor(workspace)
    for i in range(10):
        monitor.record_query("flaky", "SELECT 1", 1.0, error=i < 2)
    report = monitor.get_performance_report("flaky")
    assert report["query_performance"]["samples"] == 10
    assert [a["kind"] for a in report["alerts"]] == ["error_rate"]
    assert report["recommendations"] == []


def test_analysis_with_a_connection_has_metrics_with_reasons_for_what_is_unavailable(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="live") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        analysis = monitor_database("live", connection=conn)
    metrics = analysis["metrics"]
    assert metrics["database_name"] == "live"
    assert metrics["queries_per_second"] > 0
    assert metrics["connections_active"] is None
    assert "embedded" in metrics["unavailable"]["connections_active"]
    assert analysis["native"]["page_count"] >= 1


def test_database_metrics_serialises_to_plain_json_types() -> None:
    from datetime import UTC, datetime

    metrics = DatabaseMetrics("db", datetime(2026, 1, 1, tzinfo=UTC), 1, 2, 3.0, 4.0, None, None,
                              {"cache_hit_ratio": "not reported"})
    assert metrics.to_dict()["timestamp"] == "2026-01-01T00:00:00+00:00"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 95) == 10.0
    assert percentile([], 99) == 0.0
    assert analyze_samples("x", []).samples == 0
    one = analyze_samples("x", [Sample("x", 5.0, "q", 2.0, 0, False)])
    assert (one.queries_per_second, one.p99_ms) == (1.0, 2.0)
