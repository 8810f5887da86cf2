"""SIGKILL a PostgreSQL ``dbkeeper backup restore --replace`` at ten points spread over its run.

Each time the target holds exactly its old data or exactly the new data
(never absent, never half loaded); ``backup list`` then names every leftover
scratch/aside copy, and ``backup leftovers --remove`` removes them all.
The kill points are spread over one measured run of the same command (the
delays are not asserted on; they only place the kills).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.testing.pytest_plugin import require_server
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

ROWS = 150_000
POINTS = 10


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    require_server("postgres")


def _conninfo(url: DatabaseURL, database: str | None = None) -> str:
    return f"host={url.host} port={url.port or 5432} user={url.username} dbname='{database or url.database}'"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_conninfo(server_url("postgres"), "postgres"), autocommit=True)


def _state(target: DatabaseURL) -> str:
    """``old`` or ``new``; anything else fails the test."""
    with _admin() as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone(), \
            "no database of the target's name exists"
    with psycopg.connect(_conninfo(target), autocommit=True) as conn:
        tables = sorted(r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall())
        if tables == ["old_rows"]:
            assert conn.execute("SELECT count(*) FROM old_rows").fetchone() == (3,)
            return "old"
        assert tables == ["t"], f"the target holds neither the old nor the new data: {tables}"
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (ROWS,)
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 't'").fetchone() == (1,)
        return "new"


def _reset(target: DatabaseURL) -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{target.database}"')
    with psycopg.connect(_conninfo(target), autocommit=True) as conn:
        conn.execute("CREATE TABLE old_rows (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO old_rows VALUES (1), (2), (3)")


def _copies(target: DatabaseURL) -> list[str]:
    with _admin() as admin:
        return [r[0] for r in admin.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY datname",
            (f"{target.database}_dbk_",)).fetchall()]


def _settled_copies(target: DatabaseURL, pid: int, timeout: float = 60.0) -> list[str]:
    """The target's scratch/aside copies once the killed restore's admin session has ended.

    The server ends it when it sees the closed socket, possibly after
    finishing the statement it was running (a CREATE or DROP DATABASE):
    until then a copy can still appear, vanish or be held.
    """
    deadline = time.monotonic() + timeout
    with _admin() as admin:
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
                            (f"dbkeeper-restore-{pid}",)).fetchone():
            assert time.monotonic() < deadline, "the killed restore's session did not end"
            time.sleep(0.05)
    return _copies(target)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbkeeper.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, str, DatabaseURL]]:
    with scratch_database(server_url("postgres"), prefix="dbk_killsrc") as source, \
            scratch_database(server_url("postgres"), prefix="dbk_killdst") as target:
        with psycopg.connect(_conninfo(source), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id integer PRIMARY KEY, pad text)")
            conn.execute(f"INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g")
        workspace = tmp_path / "ws"
        result = BackupManager(workspace, source).create_backup("kill", compression="zstd")
        assert result.success, result.error_message
        try:
            yield workspace, result.backup_id, target
        finally:
            with _admin() as admin:
                for name in _copies(target):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _reset(target)


def test_sigkill_at_ten_points_leaves_old_or_new_and_named_leftovers(setup: tuple[Path, str, DatabaseURL]) -> None:
    workspace, backup_id, target = setup
    argv = [sys.executable, "-m", "dbkeeper.cli", "backup", "restore", backup_id, "--to", str(target), "--replace",
            "--workspace", str(workspace)]
    _reset(target)
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    whole = time.monotonic() - started
    assert _state(target) == "new"
    seen = {"old": 0, "new": 0, "leftovers": 0}
    for point in range(POINTS):
        _reset(target)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * (point + 0.5) / POINTS)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen[_state(target)] += 1
        # pg_restore outlives its parent until it reads the end of its input; the copy it writes is then
        # unheld (the dead restore's advisory locks went with its session) and counts as a leftover.
        left = _settled_copies(target, proc.pid)
        listing = _cli("backup", "list", "--workspace", str(workspace))
        assert listing.returncode == 0, listing.stderr
        for name in left:
            assert name in listing.stderr, (name, listing.stderr)
        if left:
            seen["leftovers"] += 1
            removed = _cli("backup", "leftovers", "--remove", "--workspace", str(workspace))
            assert removed.returncode == 0, removed.stdout + removed.stderr
            assert _copies(target) == [], removed.stdout
        assert _state(target) in {"old", "new"}
        assert "interrupted restores" not in _cli("backup", "list", "--workspace", str(workspace)).stderr
    assert seen["old"] + seen["new"] == POINTS
    assert seen["old"] >= 1, seen
