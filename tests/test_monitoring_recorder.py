"""The query recorder, its fingerprints and the workspace store, against a real SQLite file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
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
        "from dbkeeper.engine.connection import DatabaseConnection\n"
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


def test_recorder_keeps_only_the_newest_entries_of_each_connection(tmp_path: Path) -> None:
    recorder = QueryRecorder(max_entries=3, max_age=60.0, flush_interval=0, workspace_dir=tmp_path)
    for i in range(5):
        recorder.buffer_for("db").record((f"SELECT {i}", 0.001, 1))
    recorder.buffer_for("other").record(("SELECT x", 0.002, 2))  # not pushed out by the busy one
    assert recorder.pending == 4
    assert recorder.drain() == [("db", "SELECT 2", 0.001, 1), ("db", "SELECT 3", 0.001, 1),
                                ("db", "SELECT 4", 0.001, 1), ("other", "SELECT x", 0.002, 2)]
    assert recorder.pending == 0


def test_a_flush_drops_what_finished_more_than_max_age_ago(tmp_path: Path) -> None:
    """Statements are spread over the interval since the buffer was last flushed; the part beyond max_age goes."""
    recorder = QueryRecorder(max_age=60.0, flush_interval=0, workspace_dir=tmp_path)
    buffer = recorder.buffer_for("db")
    buffer.since -= 100.0  # last flushed 100 s ago: the two statements fall at about 75 s and 25 s ago
    buffer.record(("SELECT a FROM t", 0.001, 1))
    buffer.record(("SELECT b FROM t", 0.002, 1))
    assert recorder.flush() == 1
    [sample] = MetricsStore.in_workspace(tmp_path).samples("db")
    assert (sample.fingerprint, sample.duration_ms) == ("SELECT b FROM t", 2.0)
    assert time.time() - 26.0 < sample.ts < time.time() - 24.0
    recorder.stop()


def test_store_retention_by_age_and_count(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / STORE_FILE, max_age=100.0, max_rows=3)
    store.append([Sample("db", 1.0, "old", 1.0, 0, False)], now=50.0)
    store.append([Sample("db", 200.0 + i, f"q{i}", 1.0, 0, False) for i in range(5)], now=205.0)
    assert [s.fingerprint for s in store.samples("db")] == ["q2", "q3", "q4"]


def test_a_flush_stores_each_connections_samples_timed_within_the_flush_interval(tmp_path: Path) -> None:
    """Each connection gets its own batch; durations and row counts survive the packing bit for bit."""
    recorder = QueryRecorder(max_age=60.0, flush_interval=0, workspace_dir=tmp_path)
    before = time.time()
    recorder.buffer_for("a").record(("SELECT 1", 0.25, 1))
    recorder.buffer_for("b").record(("UPDATE t SET x = 2", 0.125, 7))
    recorder.buffer_for("a").record(("SELECT 3", 0.5, -1))  # failed
    assert recorder.flush() == 3
    after = time.time()
    store = MetricsStore.in_workspace(tmp_path)
    a, b = store.samples("a"), store.samples("b")
    assert [(s.connection, s.fingerprint, s.duration_ms, s.row_count, s.error) for s in a + b] == [
        ("a", "SELECT ?", 250.0, 1, False), ("a", "SELECT ?", 500.0, 0, True),
        ("b", "UPDATE t SET x = ?", 125.0, 7, False)]
    assert before - 0.01 < a[0].ts < a[1].ts < after + 0.01 and before - 0.01 < b[0].ts < after + 0.01
    assert store.samples("a", since=a[1].ts) == a[1:]
    assert store.count() == 3 and store.connections() == ["a", "b"]
    recorder.stop()


def test_statements_after_a_mark_are_timed_after_it(tmp_path: Path) -> None:
    recorder = QueryRecorder(flush_interval=0, workspace_dir=tmp_path)
    buffer = recorder.buffer_for("db")
    buffer.since -= 1000.0  # not flushed for a long time
    buffer.record(("SELECT old FROM t", 0.001, 1))
    mark = recorder.mark("db")
    buffer.record(("SELECT new FROM t", 0.001, 1))
    recorder.flush()
    store = MetricsStore.in_workspace(tmp_path)
    assert [s.fingerprint for s in store.samples("db", since=mark)] == ["SELECT new FROM t"]
    assert [s.fingerprint for s in store.samples("db")] == ["SELECT old FROM t", "SELECT new FROM t"]
    recorder.stop()


def test_buffers_of_connections_that_went_away_are_dropped_once_flushed(
        tmp_path: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    from dbkeeper.monitoring.recorder import attach

    recorder = QueryRecorder(flush_interval=0, workspace_dir=tmp_path)
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="brief") as conn:
        attach(conn, recorder)
        conn.execute("SELECT 1")
        recorder.flush()
        recorder.flush()
        assert "brief" in recorder._buffers  # empty, but the connection records into it
        conn.execute("SELECT 2")
        attach(conn, None)
    assert "brief" in recorder._buffers  # what it recorded is still to be flushed
    assert recorder.flush() == 1
    recorder.flush()
    assert "brief" not in recorder._buffers
    assert MetricsStore.in_workspace(tmp_path).count("brief") == 2
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
    recorder.buffer_for("db").record(("SELECT 1", 0.001, 1))
    recorder.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / STORE_FILE}{suffix}").unlink(missing_ok=True)
    recorder.buffer_for("db").record(("SELECT 2", 0.002, 1))
    recorder.flush()
    assert [s.duration_ms for s in MetricsStore.in_workspace(tmp_path).samples("db")] == [2.0]
    assert stat.S_IMODE(os.stat(tmp_path / STORE_FILE).st_mode) == 0o600
    recorder.stop()


def test_a_record_read_before_a_flush_still_lands(tmp_path: Path) -> None:
    """A flush swaps buffers; a thread that read ``record`` just before may append after: nothing is lost."""
    recorder = QueryRecorder(flush_interval=0, workspace_dir=tmp_path)
    recorder.buffer_for("db").record(("SELECT 1", 0.001, 1))
    held = recorder.buffer_for("db").record  # a thread between reading ``record`` and calling it
    assert recorder.flush() == 0  # the old buffer is not read while something can still append to it
    assert recorder.pending == 1
    held(("SELECT 2", 0.002, 1))
    recorder.buffer_for("db").record(("SELECT 3", 0.003, 1))
    del held
    assert recorder.flush() == 3
    store = MetricsStore.in_workspace(tmp_path)
    assert [s.duration_ms for s in store.samples("db")] == [1.0, 2.0, 3.0]
    assert recorder.pending == 0
    recorder.stop()


def test_without_a_gil_the_buffers_are_popped_and_nothing_is_retired(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Free-threaded Pythons: reference counts prove nothing there, so a flush pops each deque instead."""
    from dbkeeper.monitoring import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "_GIL", False)
    recorder = QueryRecorder(flush_interval=0, workspace_dir=tmp_path)
    buffer = recorder.buffer_for("db")
    held = buffer.record  # would keep a swapped deque retired; popping needs no swap
    held(("SELECT 1", 0.001, 1))
    buffer.record(("SELECT 2", 0.002, 2))
    assert recorder.flush() == 2
    assert buffer.record is held and recorder._retired == [] and recorder.pending == 0
    held(("SELECT 3", 0.003, 3))
    assert recorder.flush() == 1
    samples = MetricsStore.in_workspace(tmp_path).samples("db")
    assert [(s.duration_ms, s.row_count) for s in samples] == [(1.0, 1), (2.0, 2), (3.0, 3)]
    recorder.stop()


def test_concurrent_recording_and_flushing_lose_and_repeat_nothing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setenv("DBKEEPER_MONITORING_STORE_MAX_ROWS", "1000000")
    recorder = QueryRecorder(max_entries=1_000_000, flush_interval=0.001, workspace_dir=tmp_path)
    recorder.start()
    per_thread = 20_000

    def work(name: str) -> None:
        buffer = recorder.buffer_for(name)  # as a connection keeps it
        for i in range(per_thread):
            buffer.record(("SELECT ?", 0.0, i))

    threads = [threading.Thread(target=work, args=(f"t{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.stop()
    store = MetricsStore.in_workspace(tmp_path)
    for k in range(4):
        assert sorted(s.row_count for s in store.samples(f"t{k}")) == list(range(per_thread))


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
                    assert recorder.pending <= 10_000
            assert recorder.pending <= 10_000
            attach(conn, None)
    finally:
        recorder.stop()
    store = MetricsStore.in_workspace(workspace)
    assert store.max_rows == 5000
    assert 0 < store.count("busy") <= 5000
    assert recorder.pending == 0
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
        assert new.max_entries == 5
        with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="small") as conn:
            for _ in range(20):
                conn.execute("SELECT 1")
            assert new.pending == 5
    finally:
        recorder_module.configure()
    assert MetricsStore.in_workspace(workspace).count("small") == 5


def test_monitor_database_by_name_reads_native_statistics_of_a_live_connection(
        workspace: Path, dbkeeper_sqlite_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url, name="alive") as conn:
        conn.execute("SELECT 1")
        analysis = monitor_database("alive")
    assert analysis["native"]["page_count"] >= 0
    recorded = MetricsStore.in_workspace(workspace).count("alive")
    # disconnected: the database is opened again from the URL recorded for "alive" in the workspace
    assert monitor_database("alive")["native"]["page_count"] >= 0
    assert MetricsStore.in_workspace(workspace).count("alive") == recorded  # the monitor's probes are not recorded


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
