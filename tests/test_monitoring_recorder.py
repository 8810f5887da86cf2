"""The query recorder, its fingerprints and the workspace store, against a real SQLite file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbkeeper.connection import DatabaseConnection
from dbkeeper.errors import QueryError
from dbkeeper.monitoring import monitor_database
from dbkeeper.monitoring.fingerprint import fingerprint
from dbkeeper.monitoring.recorder import QueryRecorder, get_recorder
from dbkeeper.monitoring.store import STORE_FILE, MetricsStore, Sample
from dbkeeper.urls import DatabaseURL


@pytest.mark.parametrize(("statement", "expected"), [
    ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"),
    ("select * from t where name = 'it''s' and x in (1, 2,3)", "select * from t where name = ? and x IN (?+)"),
    ("INSERT INTO t (a, b) VALUES (1, 2), (3, 4), (5, 6)", "INSERT INTO t (a, b) VALUES (?, ?), ..."),
    ("SELECT a FROM t WHERE a = %s AND b = %(x)s AND c = :name AND d = ?",
     "SELECT a FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"),
    ("SELECT col1 FROM t_9  -- trailing\n WHERE x = -3.5e2;", "SELECT col1 FROM t_9 WHERE x = ?"),
    ("SELECT x::int FROM t WHERE h = 0xFF", "SELECT x::int FROM t WHERE h = ?"),
])
def test_fingerprint_replaces_literals_placeholders_and_in_lists(statement: str, expected: str) -> None:
    assert fingerprint(statement) == expected


def test_every_statement_through_a_connection_is_recorded_under_its_name(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="shop") as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        for i in range(5):
            conn.execute("INSERT INTO items (name) VALUES (?)", (f"item {i}",))
        conn.execute_many("INSERT INTO items (name) VALUES (?)", [("a",), ("b",)])
        assert len(conn.execute("SELECT * FROM items WHERE id = 3").rows) == 1
        with pytest.raises(QueryError):
            conn.execute("SELECT * FROM missing_table")
    samples = MetricsStore.in_workspace(workspace).samples("shop")
    shapes = [s.fingerprint for s in samples]
    assert shapes.count("INSERT INTO items (name) VALUES (?)") == 6
    assert "SELECT * FROM items WHERE id = ?" in shapes
    failed = [s for s in samples if s.error]
    assert [s.fingerprint for s in failed] == ["SELECT * FROM missing_table"]
    select = next(s for s in samples if s.fingerprint == "SELECT * FROM items WHERE id = ?")
    assert select.row_count == 1
    assert select.duration_ms >= 0


def test_store_file_is_private(workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="private") as conn:
        conn.execute("SELECT 1")
    mode = stat.S_IMODE(os.stat(workspace / STORE_FILE).st_mode)
    assert mode == 0o600


def test_another_process_sees_the_samples_after_a_flush(workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    script = (
        "from dbkeeper.connection import DatabaseConnection\n"
        "import sys\n"
        "conn = DatabaseConnection.from_url(sys.argv[1], name='other-process').connect()\n"
        "conn.execute('CREATE TABLE t (x INTEGER)')\n"
        "for i in range(20):\n"
        "    conn.execute('INSERT INTO t VALUES (?)', (i,))\n"
        "conn.disconnect()\n"
    )
    env = {**os.environ, "DBKEEPER_WORKSPACE": str(workspace)}
    subprocess.run([sys.executable, "-c", script, dbkeeper_sqlite_url.render(hide_password=False)],
                   check=True, env=env)
    analysis = monitor_database("other-process")
    assert analysis["query_analysis"]["samples"] == 21
    top = analysis["query_analysis"]["top_by_total_time"]
    assert {t["fingerprint"] for t in top} == {"CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (?)"}


def test_recording_can_be_switched_off(workspace: Path, dbkeeper_sqlite_url: DatabaseURL,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKEEPER_MONITORING", "off")
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="quiet") as conn:
        conn.execute("SELECT 1")
    assert MetricsStore.in_workspace(workspace).samples("quiet") == []


def test_recorder_keeps_only_the_newest_entries_and_drops_old_ones(tmp_path: Path) -> None:
    recorder = QueryRecorder(max_entries=3, max_age=60.0, flush_interval=0, workspace_dir=tmp_path)
    now = recorder._perf0 + 1000.0
    for i in range(5):
        recorder.record(("db", f"SELECT {i}", now, 0.001, 1))
    recorder.record(("db", "SELECT old", now - 10_000.0, 0.001, 1))  # older than max_age
    kept = recorder.drain()
    assert [e[1] for e in kept] == ["SELECT 3", "SELECT 4"]


def test_store_retention_by_age_and_count(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / STORE_FILE, max_age=100.0, max_rows=3)
    store.append([Sample("db", 1.0, "old", 1.0, 0, False)], now=50.0)
    store.append([Sample("db", 200.0 + i, f"q{i}", 1.0, 0, False) for i in range(5)], now=205.0)
    assert [s.fingerprint for s in store.samples("db")] == ["q2", "q3", "q4"]


def test_a_flush_stores_each_connections_samples_exactly(tmp_path: Path) -> None:
    """Interleaved connections are split into their own batches; values survive the packing bit for bit."""
    recorder = QueryRecorder(max_age=60.0, flush_interval=0, workspace_dir=tmp_path)
    now = time.perf_counter() - 10.0  # statements are recorded after they started
    wall = recorder.wall_time
    recorder.record(("a", "SELECT 1", now, 0.25, 1))
    recorder.record(("b", "UPDATE t SET x = 2", now + 0.5, 0.125, 7))
    recorder.record(("a", "SELECT 3", now + 1.0, 0.5, -1))  # failed
    recorder.record(("b", "SELECT ancient", now - 10_000.0, 0.1, 0))  # older than max_age: dropped
    assert recorder.flush() == 3
    store = MetricsStore.in_workspace(tmp_path)
    assert store.samples("a") == [Sample("a", wall(now), "SELECT ?", 250.0, 1, False),
                                  Sample("a", wall(now + 1.0), "SELECT ?", 500.0, 0, True)]
    assert store.samples("b") == [Sample("b", wall(now + 0.5), "UPDATE t SET x = ?", 125.0, 7, False)]
    assert store.samples("a", since=wall(now + 0.5)) == store.samples("a")[1:]
    assert store.count() == 3 and store.connections() == ["a", "b"]
    recorder.stop()


def test_store_retention_by_count_spans_batches(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / STORE_FILE, max_age=1e9, max_rows=5)
    for batch in range(3):
        store.append([Sample("db", 100.0 + 3 * batch + i, f"q{3 * batch + i}", 1.0, 0, False) for i in range(3)],
                     now=200.0)
        store.append([Sample("other", 100.0 + batch, "o", 1.0, 0, False)], now=200.0)
    assert [s.fingerprint for s in store.samples("db")] == ["q4", "q5", "q6", "q7", "q8"]
    assert store.count("db") == 5 and store.count("other") == 3


def test_the_recorders_kept_store_connection_follows_a_replaced_file(tmp_path: Path) -> None:
    """The writer keeps its SQLite connection between flushes, but never writes into a deleted file."""
    recorder = QueryRecorder(flush_interval=0, workspace_dir=tmp_path)
    start = time.perf_counter() - 10.0
    recorder.record(("db", "SELECT 1", start, 0.001, 1))
    recorder.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / STORE_FILE}{suffix}").unlink(missing_ok=True)
    recorder.record(("db", "SELECT 2", start + 1, 0.001, 1))
    recorder.flush()
    assert [s.ts for s in MetricsStore.in_workspace(tmp_path).samples("db")] == [recorder.wall_time(start + 1)]
    assert stat.S_IMODE(os.stat(tmp_path / STORE_FILE).st_mode) == 0o600
    recorder.stop()


def test_retention_bounds_hold_under_100000_recorded_queries(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbkeeper.monitoring.recorder import attach

    monkeypatch.setenv("DBKEEPER_MONITORING_STORE_MAX_ROWS", "5000")
    recorder = QueryRecorder(max_entries=10_000, max_age=3600.0, flush_interval=0.05, workspace_dir=workspace)
    recorder.start()  # the periodic flusher drains while the queries run
    try:
        with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="busy") as conn:
            attach(conn, recorder)
            for i in range(100_000):
                conn.execute("SELECT ?", (i,))
                if i % 10_000 == 0:
                    assert len(recorder.buffer) <= 10_000
            assert len(recorder.buffer) <= 10_000
            attach(conn, None)
    finally:
        recorder.stop()
    store = MetricsStore.in_workspace(workspace)
    assert store.max_rows == 5000
    assert 0 < store.count("busy") <= 5000
    assert len(recorder.buffer) == 0
    newest = store.samples("busy")[-1]
    assert newest.fingerprint == "SELECT ?"


def test_retention_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dbkeeper.monitoring.errors import MonitoringError

    monkeypatch.setenv("DBKEEPER_MONITORING_STORE_MAX_AGE", "60")
    monkeypatch.setenv("DBKEEPER_MONITORING_STORE_MAX_ROWS", "7")
    store = MetricsStore(tmp_path / STORE_FILE)
    assert (store.max_age, store.max_rows) == (60.0, 7)
    monkeypatch.setenv("DBKEEPER_MONITORING_STORE_MAX_ROWS", "lots")
    with pytest.raises(MonitoringError, match="DBKEEPER_MONITORING_STORE_MAX_ROWS"):
        MetricsStore(tmp_path / STORE_FILE)


def test_configure_replaces_the_process_recorder(workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    from dbkeeper.monitoring import recorder as recorder_module

    old = get_recorder()
    try:
        new = recorder_module.configure(max_entries=5, max_age=60.0, flush_interval=0)
        assert get_recorder() is new and new is not old
        assert new.buffer.maxlen == 5
        with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="small") as conn:
            for _ in range(20):
                conn.execute("SELECT 1")
            assert len(new.buffer) == 5
    finally:
        recorder_module.configure()
    assert MetricsStore.in_workspace(workspace).count("small") == 5


def test_monitor_database_by_name_reads_native_statistics_of_a_live_connection(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="alive") as conn:
        conn.execute("SELECT 1")
        analysis = monitor_database("alive")
    assert analysis["native"]["page_count"] >= 0
    assert monitor_database("alive")["native"] == {}  # disconnected: only what was recorded


def test_the_monitors_own_statements_are_not_recorded_but_other_threads_are(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    import threading

    from dbkeeper.monitoring import optimize_database
    from dbkeeper.monitoring.recorder import unrecorded

    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="app") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
        conn.execute("CREATE INDEX ix_t_x ON t (x)")
        conn.execute("SELECT id FROM t WHERE x = 1")
        optimize_database("app")  # statistics, catalog and EXPLAIN probes on the app's own connection
        with unrecorded(conn):
            conn.execute("SELECT 'hidden'")
            worker = threading.Thread(target=conn.execute, args=("SELECT 'other thread'",))
            worker.start()
            worker.join()
        conn.execute("SELECT 'after'")
    shapes = {s.fingerprint for s in MetricsStore.in_workspace(workspace).samples("app")}
    assert shapes == {"CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)", "CREATE INDEX ix_t_x ON t (x)",
                      "SELECT id FROM t WHERE x = ?", "SELECT ?"}
    assert MetricsStore.in_workspace(workspace).count("app") == 5  # 'other thread' and 'after' both kept
