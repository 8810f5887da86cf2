"""The server's own statistics against real load that does not go through dbkeeper.

Private servers (``pg_stat_statements`` preloaded; MariaDB with
``performance_schema`` ON, session-scoped in ``conftest.py``) carry load from
pgbench (PostgreSQL's own) and bounded loops on the raw drivers; the
monitor's figures must be within 10 % of what the load generator counted.
The shared servers (neither enabled) show the "unavailable, here is how to
enable it" path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.child_env import child_environment
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.monitoring.sampler import ServerSampler
from dbkeeper.monitoring.store import MetricsStore
from dbkeeper.urls import DatabaseURL

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
CLIENTS, PER_CLIENT = 2, 250
LOOP = 1_500


def pgbench(url: DatabaseURL, *args: str) -> str:
    """Run pgbench against ``url``; its stdout."""
    if not os.path.exists(PGBENCH):
        pytest.fail(f"{PGBENCH} is missing: install postgresql-15 (pgbench is part of it)")
    done = subprocess.run([PGBENCH, "-h", str(url.host), "-p", str(url.port), "-U", str(url.username), *args,
                           str(url.database)], capture_output=True, text=True, timeout=300, check=False,
                          env=child_environment())
    assert done.returncode == 0, done.stderr
    return done.stdout


def near(value: float, expected: float, tolerance: float = 0.10) -> bool:
    return abs(value - expected) <= tolerance * expected


def matching(statements: list[dict[str, Any]], *needles: str) -> list[dict[str, Any]]:
    return [s for s in statements if all(n.lower() in s["query"].lower() for n in needles)]


def psycopg_connect(url: DatabaseURL) -> Any:
    import psycopg

    return psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True)


def pymysql_connect(url: DatabaseURL) -> Any:
    import pymysql

    return pymysql.connect(host=url.host, port=url.port, user=url.username, password=url.password or "",
                           database=url.database, autocommit=True)


# -- PostgreSQL ------------------------------------------------------------------------------------------------
def test_pgbench_transactions_and_statements_within_ten_percent(private_postgres_url: DatabaseURL,
                                                                workspace: Path) -> None:
    pgbench(private_postgres_url, "-i", "-s", "1", "-q")
    with DatabaseConnection.from_url(private_postgres_url, record_queries=False) as conn:
        sampler = ServerSampler(conn, MetricsStore.in_workspace(workspace))
        first, none = sampler.sample()
        out = pgbench(private_postgres_url, "-n", "-c", str(CLIENTS), "-t", str(PER_CLIENT))
        time.sleep(0.5)  # pgbench's backends flush their counters as they exit
        _, span = sampler.sample()
    expected = CLIENTS * PER_CLIENT
    assert f"number of transactions actually processed: {expected}/{expected}" in out
    assert none is None and first["source"] == "pg_stat_statements"
    assert span is not None and not span["reset"]
    transactions = span["counter_rates"]["transactions"] * span["seconds"]
    assert near(transactions, expected), (transactions, expected)
    updates = matching(span["statements"], "update pgbench_accounts")
    assert len(updates) == 1 and near(updates[0]["calls"], expected), updates
    # seven statements a TPC-B transaction: BEGIN, three UPDATEs, SELECT, INSERT, END
    statements = span["rates"]["statements_per_second"] * span["seconds"]
    assert near(statements, 7 * expected), (statements, 7 * expected)
    assert span["rates"]["mean_latency_ms"] > 0
    assert updates[0]["blocks_hit"] + updates[0]["blocks_read"] > 0
    # the history is in the workspace for the next process
    assert [w["end"] for w in sampler.history()] == [span["end"]]


class Loop:
    """A bounded loop of raw-driver statements in a thread, noting when each one finished."""

    def __init__(self, connect: Any, statement: str, seconds: float) -> None:
        self.connect, self.statement, self.seconds = connect, statement, seconds
        self.finished: list[float] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            stop = time.time() + self.seconds
            i = 0
            while time.time() < stop:
                cursor.execute(self.statement, (i,))
                cursor.fetchall()
                self.finished.append(time.time())
                i += 1
        finally:
            conn.close()

    def within(self, start: float, end: float) -> int:
        return sum(1 for t in self.finished if start <= t <= end)

    def __enter__(self) -> Loop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=self.seconds + 30)


def run_cli(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    dbkeeper = shutil.which("dbkeeper", path=os.path.dirname(sys.executable))
    assert dbkeeper is not None
    return subprocess.run([dbkeeper, *args, "--workspace", str(workspace)], capture_output=True, text=True, check=False,
                          timeout=120, env={**os.environ, "DBKEEPER_WORKSPACE": str(workspace)})


def test_one_shot_report_samples_its_own_window_of_raw_driver_traffic(private_postgres_url: DatabaseURL,
                                                                      workspace: Path) -> None:
    url = private_postgres_url.render(hide_password=False)
    with Loop(lambda: psycopg_connect(private_postgres_url), "SELECT %s::int + 41 AS answer", 6.0) as loop:
        time.sleep(1.0)
        done = run_cli("monitor", "report", "--db", url, "--json", "--sample-seconds", "3", workspace=workspace)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    server = report["server"]
    assert report["notices"] == [] and server["source"] == "pg_stat_statements"
    span = server["window"]
    assert re.fullmatch(r"sampled for 3\.\d s by this command \(no fresh history\)", span["how"]), span["how"]
    assert 3.0 <= span["seconds"] < 4.0
    counted = loop.within(span["start"], span["end"])
    loop_statements = matching(server["statements"], "as answer")
    assert len(loop_statements) == 1
    assert near(loop_statements[0]["calls"], counted), (loop_statements[0]["calls"], counted)
    metrics = report["database_performance"]["metrics"]
    assert metrics["source"] == "pg_stat_statements"
    assert near(metrics["queries_per_second"], counted / span["seconds"], 0.15)  # the loop plus a few others
    text = run_cli("monitor", "report", "--db", url, workspace=workspace)
    assert text.returncode == 0, text.stderr
    assert "server sources: pg_stat_statements, pg_stat_database" in text.stdout
    assert "newest stored window" in text.stdout  # the first report's window is fresh history now


def test_missing_pg_stat_statements_is_said_at_the_top_with_the_steps(dbkeeper_postgres_url: DatabaseURL,
                                                                      workspace: Path) -> None:
    url = dbkeeper_postgres_url.render(hide_password=False)
    done = run_cli("monitor", "report", "--db", url, "--sample-seconds", "0.5", workspace=workspace)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("NOTE: pg_stat_statements is not in shared_preload_libraries")
    assert "ALTER SYSTEM SET shared_preload_libraries" in lines[2] and "pg_stat_statements" in lines[2]
    assert "restart the server" in lines[3]
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in lines[4]
    assert "transactions_per_second" in done.stdout


def test_lock_waits_and_sessions_show_who_blocks_whom(private_postgres_url: DatabaseURL, workspace: Path) -> None:
    holder, waiter = psycopg_connect(private_postgres_url), psycopg_connect(private_postgres_url)
    try:
        holder.execute("CREATE TABLE seats (id int PRIMARY KEY, taken bool)")
        holder.execute("INSERT INTO seats VALUES (1, false)")
        holder.execute("BEGIN")
        holder.execute("UPDATE seats SET taken = true WHERE id = 1")
        blocked = threading.Thread(target=lambda: waiter.execute("UPDATE seats SET taken = false WHERE id = 1"))
        blocked.start()
        with DatabaseConnection.from_url(private_postgres_url, record_queries=False) as conn:
            reading = None
            for _ in range(50):
                reading, _ = ServerSampler(conn, MetricsStore.in_workspace(workspace)).sample()
                if reading["lock_waits"]:
                    break
                time.sleep(0.1)
        assert reading is not None
        waits = reading["lock_waits"]
        assert [(w["pid"], w["blocking"]) for w in waits] == [(waiter.info.backend_pid, [holder.info.backend_pid])]
        assert "update seats" in waits[0]["query"].lower()
        assert "update seats" in waits[0]["blocking_queries"][str(holder.info.backend_pid)].lower()
        assert reading["sessions"]["waiting"] == 1 and reading["sessions"]["idle_in_transaction"] == 1
        holder.execute("ROLLBACK")
        blocked.join(timeout=10)
    finally:
        holder.close()
        waiter.close()


def test_a_statistics_reset_between_readings_gives_no_negative_delta(private_postgres_url: DatabaseURL,
                                                                      workspace: Path) -> None:
    with DatabaseConnection.from_url(private_postgres_url, record_queries=False) as conn:
        sampler = ServerSampler(conn, MetricsStore.in_workspace(workspace))
        for i in range(20):
            conn.execute("SELECT ?::int * 3 AS tripled", (i,))
        sampler.sample()
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(5):
            conn.execute("SELECT ?::int * 3 AS tripled", (i,))
        _, span = sampler.sample()
    assert span is not None and span["reset"]
    tripled = matching(span["statements"], "as tripled")
    assert [s["calls"] for s in tripled] == [5.0]
    assert all(s["calls"] >= 0 and s["total_ms"] >= 0 for s in span["statements"])


# -- MariaDB ---------------------------------------------------------------------------------------------------
def test_mariadb_digests_and_global_status_within_ten_percent(private_mariadb_url: DatabaseURL,
                                                              workspace: Path) -> None:
    raw = pymysql_connect(private_mariadb_url)
    with DatabaseConnection.from_url(private_mariadb_url, record_queries=False) as conn:
        sampler = ServerSampler(conn, MetricsStore.in_workspace(workspace))
        first, _ = sampler.sample()
        with raw.cursor() as cursor:
            for i in range(LOOP):
                cursor.execute("SELECT %s + 7 AS seven_more", (i,))
                cursor.fetchall()
        _, span = sampler.sample()
    raw.close()
    assert first["source"] == "performance_schema" and first["notices"] == []
    assert span is not None and not span["reset"]
    loop = matching(span["statements"], "seven_more")
    assert len(loop) == 1 and near(loop[0]["calls"], LOOP), loop
    questions = span["counter_rates"]["queries"] * span["seconds"]
    assert near(questions, LOOP), (questions, LOOP)
    assert near(span["counter_rates"]["selects"] * span["seconds"], LOOP)
    assert span["rates"]["mean_latency_ms"] > 0


def test_mariadb_lock_waits_show_who_blocks_whom(private_mariadb_url: DatabaseURL, workspace: Path) -> None:
    holder, waiter = pymysql_connect(private_mariadb_url), pymysql_connect(private_mariadb_url)
    try:
        with holder.cursor() as c:
            c.execute("CREATE TABLE seats (id INT PRIMARY KEY, taken BOOL) ENGINE=InnoDB")
            c.execute("INSERT INTO seats VALUES (1, 0)")
            c.execute("BEGIN")
            c.execute("UPDATE seats SET taken = 1 WHERE id = 1")

        def wait() -> None:
            with waiter.cursor() as c2:
                c2.execute("UPDATE seats SET taken = 0 WHERE id = 1")

        blocked = threading.Thread(target=wait)
        blocked.start()
        with DatabaseConnection.from_url(private_mariadb_url, record_queries=False) as conn:
            reading = None
            for _ in range(50):
                reading, _ = ServerSampler(conn, MetricsStore.in_workspace(workspace)).sample()
                if reading["lock_waits"]:
                    break
                time.sleep(0.1)
        assert reading is not None
        assert [(w["pid"], w["blocking"]) for w in reading["lock_waits"]] == [(waiter.thread_id(),
                                                                              [holder.thread_id()])]
        assert reading["sessions"]["waiting"] == 1 and reading["sessions"]["idle_in_transaction"] == 1
        holder.rollback()
        blocked.join(timeout=60)
    finally:
        holder.close()
        waiter.close()


def test_mariadb_without_performance_schema_says_how_to_enable_it(dbkeeper_mysql_url: DatabaseURL,
                                                                  workspace: Path) -> None:
    with DatabaseConnection.from_url(dbkeeper_mysql_url, record_queries=False) as conn:
        reading, _ = ServerSampler(conn, MetricsStore.in_workspace(workspace)).sample()
    assert reading["source"] == "global_status"
    assert [n["key"] for n in reading["notices"]] == ["performance_schema"]
    assert any("performance_schema=ON" in step for step in reading["notices"][0]["steps"])
    assert reading["counters"]["queries"] > 0
