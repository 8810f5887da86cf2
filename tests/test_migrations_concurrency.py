"""Real processes racing and dying: the lock, crash recovery and the lock hook, on every dialect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.contract.dialect import Dialect
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.engine.plugins import PluginRegistry, get_registry, set_registry
from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations import Migrator, build_graph, load_directory
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h

pytestmark = pytest.mark.slow


@pytest.fixture(params=h.DIALECTS)
def db_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def logged_migrations(directory: Path, url: DatabaseURL, count: int, seconds: float) -> Path:
    """``count`` migrations; each creates a table, logs its id once into ``applied_log`` and sleeps."""
    dialect = h.dialect_name(url)
    migrations: dict[str, tuple[str, str | None]] = {
        "0000_log": ("CREATE TABLE applied_log (id VARCHAR(20) NOT NULL);", None)}
    for i in range(1, count + 1):
        migrations[f"{i:04d}_step"] = (
            f"CREATE TABLE step_{i} (x INTEGER);\nINSERT INTO applied_log (id) VALUES ('{i:04d}');\n"
            f"{h.sleep_sql(dialect, seconds)};", f"DROP TABLE step_{i};")
    return h.write_migrations(directory, migrations)


def assert_each_applied_once(url: DatabaseURL, count: int) -> None:
    log = h.query(url, "SELECT id, COUNT(*) AS n FROM applied_log GROUP BY id")
    assert {str(r["id"]): int(r["n"]) for r in log} == {f"{i:04d}": 1 for i in range(1, count + 1)}  # type: ignore[call-overload]
    history = h.query(url, "SELECT id, status FROM dbkeeper_migrations")
    assert len(history) == count + 1
    assert {str(r["status"]) for r in history} == {"applied"}


def test_eight_processes_apply_every_migration_exactly_once(tmp_path: Path, db_url: DatabaseURL) -> None:
    count = 12
    directory = logged_migrations(tmp_path / "m", db_url, count, 0.02)
    args = ["up", "--db", db_url.render(hide_password=False), "--dir", str(directory), "--json",
            "--lock-timeout", "120"]
    procs = [subprocess.Popen(h.cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    reports = [json.loads(out) for out, _ in outputs]
    assert all(r["success"] and r["failed"] == 0 for r in reports)
    applied = sorted(item["migration_id"] for r in reports for item in r["results"])
    assert applied == sorted(["0000", *(f"{i:04d}" for i in range(1, count + 1))])
    assert_each_applied_once(db_url, count)


def test_a_migrator_killed_with_sigkill_leaves_the_database_migratable(tmp_path: Path, db_url: DatabaseURL) -> None:
    count = 10
    # Half a second per migration: wide enough for the poll below to see 3 applied and kill the migrator
    # before it finishes, even when a busy CI machine makes each poll slow.
    directory = logged_migrations(tmp_path / "m", db_url, count, 0.5)
    url_text = db_url.render(hide_password=False)
    victim = subprocess.Popen(h.cli_command("up", "--db", url_text, "--dir", str(directory)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    applied = 0
    while time.monotonic() < deadline and victim.poll() is None:
        try:
            applied = int(h.query(db_url, "SELECT COUNT(*) AS n FROM dbkeeper_migrations "  # type: ignore[call-overload]
                                          "WHERE status = 'applied'")[0]["n"])
        except DbKeeperError:
            applied = 0
        if applied >= 3:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the migrator finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert 3 <= applied < count + 1

    again = h.run_cli(["up", "--db", url_text, "--dir", str(directory), "--lock-timeout", "30"])
    if again.returncode != 0 and h.dialect_name(db_url) == "mysql":
        # killed inside a DDL statement: nobody can know whether it committed, so repair must decide
        assert "was interrupted while statement" in again.stderr, again.stderr
        stuck = str(h.query(db_url, "SELECT id FROM dbkeeper_migrations WHERE status = 'running'")[0]["id"])
        took_effect = f"step_{int(stuck)}" in h.tables(db_url)  # statement 1 creates it
        retry = ["--retry", "--from", "2"] if took_effect else ["--retry"]
        repaired = h.run_cli(["repair", stuck, *retry, "--db", url_text, "--dir", str(directory)])
        assert repaired.returncode == 0, repaired.stderr
        again = h.run_cli(["up", "--db", url_text, "--dir", str(directory), "--lock-timeout", "30"])
    assert again.returncode == 0, again.stderr
    assert_each_applied_once(db_url, count)


class _HeldLock:
    """Holds the real migration lock of ``url`` in this process (through the hook)."""

    def __init__(self, url: DatabaseURL, directory: Path) -> None:
        self.connection = DatabaseConnection.from_url(url, pool_size=1).connect()
        self.migrator = Migrator(self.connection, build_graph(load_directory(directory)))
        self.lock = self.migrator.lock()

    def __enter__(self) -> _HeldLock:
        self.lock.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(None, None, None)
        self.connection.disconnect()


def test_a_waiting_migrator_names_the_holder_then_times_out_and_changes_nothing(tmp_path: Path,
                                                                                db_url: DatabaseURL) -> None:
    directory = h.write_migrations(tmp_path / "m", {"0001_t": ("CREATE TABLE t (x INTEGER);", None)})
    with _HeldLock(db_url, directory):
        start = time.monotonic()
        done = h.run_cli(["up", "--db", db_url.render(hide_password=False), "--dir", str(directory),
                          "--lock-timeout", "1.5"])
        waited = time.monotonic() - start
    assert done.returncode == 1
    assert waited >= 1.5
    assert "waiting for migration lock" in done.stderr and "held by" in done.stderr
    assert "still held by" in done.stderr and "after waiting 1.5 s" in done.stderr
    expected = {"sqlite": f"pid {os.getpid()}", "postgres": f"dbkeeper migrate pid={os.getpid()}",
                "mysql": "connection id"}[h.dialect_name(db_url)]
    assert expected in done.stderr
    assert "t" not in h.tables(db_url)
    after = h.run_cli(["up", "--db", db_url.render(hide_password=False), "--dir", str(directory)])
    assert after.returncode == 0, after.stderr  # released on exit: the next migrator proceeds at once


class _LockSpy:
    """Sees every migration lock request made of one dialect instance, then defers to the dialect's own lock."""

    def __init__(self, dialect: Dialect) -> None:
        self.calls: list[dict[str, Any]] = []
        self._own = dialect.migration_lock
        self._dialect_name = dialect.name

    def __call__(self, connection: DatabaseConnection, name: str, timeout: float) -> AbstractContextManager[Any]:
        self.calls.append({"dialect": self._dialect_name, "name": name, "timeout": timeout})
        return self._own(connection, name, timeout)


def test_the_engine_takes_its_lock_from_the_dialect(tmp_path: Path, db_url: DatabaseURL) -> None:
    previous = set_registry(PluginRegistry())
    try:
        dialect = get_registry().get_dialect(h.dialect_name(db_url))
        spy = _LockSpy(dialect)
        dialect.migration_lock = spy  # type: ignore[method-assign]  # this registry's instance only
        directory = h.write_migrations(tmp_path / "m", {"0001_t": ("CREATE TABLE t (x INTEGER);", None)})
        connection = DatabaseConnection.from_url(db_url, pool_size=1).connect()
        try:
            migrator = Migrator(connection, build_graph(load_directory(directory)), lock_timeout=7.0,
                                table="custom_history")
            assert migrator.up().success
        finally:
            connection.disconnect()
        assert get_registry().get_dialect(h.dialect_name(db_url)).capabilities.migration_lock
    finally:
        set_registry(previous)
    assert spy.calls == [{"dialect": h.dialect_name(db_url), "name": "dbkeeper:custom_history", "timeout": 7.0}]


SLOW_NON_TRANSACTIONAL = {
    # statement 2 commits on its own and takes several seconds (wide enough to kill the migrator inside it
    # on a busy machine); the last entry finds the statement still running on the server
    "postgres": ("CREATE TABLE slow_base (x INTEGER);\n"
                 "CREATE FUNCTION slow_id(v integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql AS $$\n"
                 "BEGIN PERFORM pg_sleep(3); RETURN v; END $$;\nINSERT INTO slow_base VALUES (1);",
                 "CREATE INDEX CONCURRENTLY slow_ix ON slow_base (slow_id(x))",
                 "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'slow_ix'",
                 "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY slow_ix%'"),
    "mysql": ("CREATE TABLE slow_base (x INTEGER)",
              "CREATE TABLE slow_copy AS SELECT SLEEP(5) AS s",
              "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() "
              "AND table_name = 'slow_copy'",
              "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE 'CREATE TABLE slow_copy%'"),
}


def wait_until_finished(url: DatabaseURL, running_probe: str, timeout: float = 60.0) -> None:
    """Wait until the orphaned server-side statement (its client was killed) has finished or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(h.query(url, running_probe)[0]["n"]) == 0:  # type: ignore[call-overload]
            return
        time.sleep(0.1)
    raise AssertionError(f"the orphaned statement was still running after {timeout:g} s")


@pytest.mark.parametrize("dialect", [pytest.param("postgres", marks=pytest.mark.postgres),
                                     pytest.param("mysql", marks=pytest.mark.mysql)])
def test_a_kill_inside_a_self_committing_statement_needs_repair_and_repair_finishes_it(
        tmp_path: Path, request: pytest.FixtureRequest, dialect: str) -> None:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{dialect}_url")
    setup, slow, probe, running = SLOW_NON_TRANSACTIONAL[dialect]
    directory = h.write_migrations(tmp_path / "m", {
        "0001_setup": (setup + ";", None),
        "0002_slow": (f"CREATE TABLE before_slow (x INTEGER);\n{slow};\nCREATE TABLE after_slow (x INTEGER);", None),
    })
    url_text = url.render(hide_password=False)
    victim = subprocess.Popen(h.cli_command("up", "--db", url_text, "--dir", str(directory)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            rows = h.query(url, "SELECT current_statement FROM dbkeeper_migrations WHERE id = '0002'")
        except DbKeeperError:
            rows = []
        if rows and rows[0]["current_statement"] == 2:
            break
        time.sleep(0.02)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    refused = h.run_cli(["up", "--db", url_text, "--dir", str(directory)])
    assert refused.returncode == 1
    assert "0002 was interrupted while statement 2 of 3 was running" in refused.stderr
    assert "--retry --from 3" in refused.stderr
    assert "after_slow" not in h.tables(url)

    wait_until_finished(url, running)  # the orphaned server-side statement finishes or fails
    took_effect = int(h.query(url, probe)[0]["n"]) == 1  # type: ignore[call-overload]
    retry = ["--retry", "--from", "3"] if took_effect else ["--retry"]
    if not took_effect and dialect == "postgres":
        h.query(url, "DROP INDEX IF EXISTS slow_ix")  # an interrupted CONCURRENTLY build can leave an invalid index
    repaired = h.run_cli(["repair", "0002", *retry, "--db", url_text, "--dir", str(directory)])
    assert repaired.returncode == 0, repaired.stderr
    assert {"before_slow", "after_slow"} <= h.tables(url)
    assert h.query(url, "SELECT status FROM dbkeeper_migrations WHERE id = '0002'") == [{"status": "applied"}]
