"""The migration lock on a real three-node MariaDB Galera cluster started by the test session.

``GET_LOCK`` is node-local on Galera: two migrators on two nodes both got it
and both ran. These tests race ``dbkeeper migrate up`` processes pointed at
different nodes, kill a lease holder, and check the refusal on a node whose
writes would not replicate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.migrations.errors import MigrationLockError
from dbkeeper.testing.provision import PrivateServerUnavailable
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.urls import DatabaseURL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def galera() -> Iterator[object]:
    """A private 3-node Galera cluster (about 15 s to start), stopped when the session ends."""
    from dbkeeper_mysql.provision_galera import start_galera

    try:
        cluster = start_galera(nodes=3)
    except PrivateServerUnavailable as exc:
        unavailable(f"Galera cluster unavailable: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def nodes(galera: object) -> Iterator[list[DatabaseURL]]:
    """One fresh database, created through node 1 and replicated; its URL on each node."""
    from dbkeeper_mysql.provision_galera import PrivateCluster

    assert isinstance(galera, PrivateCluster)
    name = f"g{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = galera.urls[0]
    run(admin, f"CREATE DATABASE `{name}`")
    try:
        yield [url.with_database(name) for url in galera.urls]
    finally:
        run(admin, f"DROP DATABASE IF EXISTS `{name}`")


def run(url: DatabaseURL, sql: str) -> list[dict[str, object]]:
    with DatabaseConnection.from_url(url, record_queries=False) as conn:
        return conn.execute(sql).rows


def migrations(directory: Path, count: int) -> Path:
    """``count`` migrations that each create a table and log their id once; each holds the lock a while."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "0000_log.up.sql").write_text(
        "CREATE TABLE applied_log (id VARCHAR(20) NOT NULL, n INT AUTO_INCREMENT PRIMARY KEY);\n")
    for i in range(1, count + 1):
        (directory / f"{i:04d}_step.up.sql").write_text(
            f"CREATE TABLE step_{i} (x INTEGER PRIMARY KEY);\nINSERT INTO applied_log (id) VALUES ('{i:04d}');\n"
            "SELECT SLEEP(0.05);\n")
    return directory


def migrate(*args: str) -> list[str]:
    return [sys.executable, "-m", "dbkeeper.cli.commands.migrate", *args]


def test_concurrent_migrators_on_different_nodes_apply_every_migration_exactly_once(
        tmp_path: Path, nodes: list[DatabaseURL]) -> None:
    count = 8
    directory = migrations(tmp_path / "m", count)
    procs = []
    for url in [*nodes, *nodes]:  # two migrators per node, six in all
        args = ["up", "--db", url.render(hide_password=False), "--dir", str(directory), "--json",
                "--lock-timeout", "120"]
        procs.append(subprocess.Popen(migrate(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    reports = [json.loads(out) for out, _ in outputs]
    applied = sorted(item["migration_id"] for r in reports for item in r["results"])
    assert applied == ["0000", *(f"{i:04d}" for i in range(1, count + 1))]
    log = run(nodes[2], "SELECT id, COUNT(*) AS n FROM applied_log GROUP BY id")
    assert {str(r["id"]): int(str(r["n"])) for r in log} == {f"{i:04d}": 1 for i in range(1, count + 1)}
    history = run(nodes[1], "SELECT id, status FROM dbkeeper_migrations")
    assert sorted(str(r["id"]) for r in history) == applied
    assert {str(r["status"]) for r in history} == {"applied"}


def test_the_migrate_output_warns_that_ddl_blocks_the_whole_cluster(tmp_path: Path, nodes: list[DatabaseURL]) -> None:
    directory = migrations(tmp_path / "m", 1)
    done = subprocess.run(migrate("up", "--db", nodes[0].render(hide_password=False), "--dir", str(directory)),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Galera" in done.stderr and "TOI" in done.stderr and "every node" in done.stderr


def test_a_single_server_keeps_its_session_lock(dbkeeper_mysql_url: DatabaseURL) -> None:
    from dbkeeper_mysql.migration_support import MySQLNamedLock

    with DatabaseConnection.from_url(dbkeeper_mysql_url) as conn:
        lock = conn.dialect.migration_lock(conn, "dbkeeper:single", 1.0)
        with lock:
            assert isinstance(lock, MySQLNamedLock)


HOLDER = textwrap.dedent("""
    import sys, time
    from dbkeeper.engine.connection import DatabaseConnection
    conn = DatabaseConnection.from_url(sys.argv[1]).connect()
    lock = conn.dialect.migration_lock(conn, "dbkeeper:killed", 5.0)
    lock.__enter__()
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_killed_holders_lease_expires_and_is_taken_on_another_node(
        nodes: list[DatabaseURL], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKEEPER_MIGRATION_LEASE_SECONDS", "3")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, nodes[0].render(hide_password=False)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with DatabaseConnection.from_url(nodes[1]) as conn:
            # the lease is alive and renewed
            with pytest.raises(MigrationLockError, match="still held by"), \
                    conn.dialect.migration_lock(conn, "dbkeeper:killed", 4.0):
                pass
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=30)
            with conn.dialect.migration_lock(conn, "dbkeeper:killed", 30.0) as lock:
                assert lock.acquired
                rows = run(nodes[2], "SELECT holder FROM dbkeeper_migration_lock WHERE name LIKE '%:dbkeeper:killed'")
                assert rows and json.loads(str(rows[0]["holder"]))["pid"] == os.getpid()
            assert run(nodes[2], "SELECT holder FROM dbkeeper_migration_lock WHERE name LIKE '%:dbkeeper:killed'") == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_a_node_whose_writes_do_not_replicate_is_refused(galera: object, nodes: list[DatabaseURL]) -> None:
    run(nodes[2], "SET GLOBAL wsrep_on = OFF")
    try:
        with DatabaseConnection.from_url(nodes[2]) as conn, \
                pytest.raises(MigrationLockError, match="wsrep_on is OFF"), \
                conn.dialect.migration_lock(conn, "dbkeeper:refused", 1.0):
            pass
    finally:
        run(nodes[2], "SET GLOBAL wsrep_on = ON")
