"""The monitoring step of ``dbkeeper demo``: record a workload, find the missing index, fix it, prove it.

Self-contained on purpose: the step builds its own table (``demo_events``,
20,000 rows, no index on ``customer_id``), so it does not depend on what the
other steps left, and drops it first, so it can run again in the same
directory. Its statements are recorded into the demo directory's own
workspace (``<dir>/workspace``), not the user's, and it checks as it goes:
no recommendation, or a plan that still scans after the fix, fails the step.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from dbkeeper.monitoring.errors import MonitoringError

#: The demo's table and its size.
TABLE = "demo_events"
ROWS = 20_000
#: The query the "application" runs: a lookup by a column without an index.
QUERY = f"SELECT id, amount FROM {TABLE} WHERE customer_id = ?"
CALLS = 40
#: The HTML report the step leaves in the demo directory.
REPORT_FILE = "monitoring-report.html"


def run_monitoring_demo(directory: pathlib.Path, database_url: str, say: Callable[[str], None]) -> None:
    """Run the monitoring demo on ``database_url`` (any dialect), keeping its state under ``directory``."""
    from dbkeeper.engine.manager import DatabaseManager
    from dbkeeper.monitoring.advisor import advise
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor
    from dbkeeper.monitoring.html_report import write_html
    from dbkeeper.monitoring.plans import indexed_tables, scanned_tables
    from dbkeeper.monitoring.recorder import QueryRecorder, attach

    workspace = directory / "workspace"
    recorder = QueryRecorder(flush_interval=0, workspace_dir=workspace)
    monitor = DatabasePerformanceMonitor(workspace)
    manager = DatabaseManager(database_url)
    try:
        conn = manager.get_connection()
        attach(conn, None)  # building the table is not the workload
        dialect = conn.dialect
        table = dialect.qualify(TABLE)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
                     "kind VARCHAR(16) NOT NULL, amount INTEGER NOT NULL)")
        conn.bulk_insert(TABLE, [(i, (i * 7919) % 2_000, ("view", "cart", "buy")[i % 3], i % 997)
                                 for i in range(ROWS)], ["id", "customer_id", "kind", "amount"])
        say(f"{TABLE}: {ROWS:,} rows; the application looks rows up by customer_id, which has no index")

        attach(conn, recorder)
        started = recorder.mark(conn.name)
        for customer in range(CALLS):
            manager.execute(QUERY, (customer,))
        recorder.flush()
        before = monitor.query_analysis(conn.name, since=started)
        say(f"recorded {before.samples} statements: avg {before.avg_ms:.3f} ms, p50 {before.p50_ms:.3f} ms, "
            f"p95 {before.p95_ms:.3f} ms, p99 {before.p99_ms:.3f} ms")
        attach(conn, None)

        plan = conn.explain(QUERY, (7,))
        say(f"plan before: {plan.text.splitlines()[0] if plan.text else '?'}")
        if TABLE not in scanned_tables(plan):
            raise MonitoringError(f"demo: expected a full scan of {TABLE} before the fix, got: {plan.text}")
        advice = advise(conn, before)
        found = [r for r in advice.recommendations if r.kind == "missing_index" and r.table == TABLE]
        if not found:
            raise MonitoringError(f"demo: the advisor found no missing index on {TABLE}: {advice.to_dict()}")
        rec = found[0]
        say(f"optimize: {rec.message} (confidence {rec.confidence})")
        say(f"fix: {rec.fix}")
        others = sorted({r.kind for r in advice.recommendations if r is not rec})
        if others:
            say(f"other findings in the demo database: {', '.join(others)}")

        conn.execute(rec.fix)
        plan = conn.explain(QUERY, (7,))
        if TABLE not in indexed_tables(plan) or TABLE in scanned_tables(plan):
            raise MonitoringError(f"demo: the plan still scans {TABLE} after the fix: {plan.text}")
        say(f"plan after:  {plan.text.splitlines()[0]}")

        attach(conn, recorder)
        fixed_at = recorder.mark(conn.name)
        for customer in range(CALLS):
            manager.execute(QUERY, (customer,))
        recorder.flush()
        attach(conn, None)
        after = monitor.query_analysis(conn.name, since=fixed_at)
        say(f"the same {after.samples} lookups now: avg {after.avg_ms:.3f} ms (was {before.avg_ms:.3f} ms)")

        report = monitor.get_performance_report(conn.name, connection=conn)
        path = write_html(directory / REPORT_FILE, report, monitor.store.samples(conn.name))
        say(f"HTML report: {path}")
    finally:
        manager.close_pool()
