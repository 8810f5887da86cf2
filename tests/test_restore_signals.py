"""SIGTERM mid-restore (what ``timeout``, systemd and docker send) cleans up like Ctrl-C.

A real ``dbkeeper backup restore`` subprocess is terminated while it loads the
scratch database; afterwards no scratch database exists, no temp directory
with a client option file is left, the target still holds its old rows, and
the exit code is 143 (128 + SIGTERM). Python's default SIGTERM action ended
the process on the spot and left all of that behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.pytest_plugin import require_server
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

ROWS = 400_000

FILL = {
    "postgres": ["CREATE TABLE t (id integer PRIMARY KEY, pad text)",
                 f"INSERT INTO t SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, {ROWS}) g"],
    "mysql": ["CREATE TABLE t (id integer PRIMARY KEY, pad varchar(80))",
              "INSERT INTO t WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000) "
              "SELECT a.g * 1000 + b.g, concat(md5(a.g), md5(b.g)) FROM s a, s b "
              f"WHERE a.g <= {ROWS // 1000}"],
}


@pytest.fixture(params=["postgres", "mysql"])
def kind(request: pytest.FixtureRequest) -> str:
    require_server(request.param)
    return str(request.param)


@pytest.fixture
def source(kind: str) -> Iterator[DatabaseURL]:
    with scratch_database(server_url(kind), prefix="dbk_sigsrc") as url:
        with DatabaseConnection.from_url(url, name="fill", max_retries=0) as conn:
            for sql in FILL[kind]:
                conn.execute(sql)
        yield url


def _scalar(url: DatabaseURL, sql: str, params: tuple[object, ...] = ()) -> object:
    with DatabaseConnection.from_url(url, name="probe", max_retries=0) as conn:
        rows = conn.execute(sql, params).rows
        return next(iter(rows[0].values())) if rows else None


def _scratch_databases(kind: str, target: str) -> list[str]:
    admin = server_url(kind)
    sql = ("SELECT datname AS n FROM pg_database WHERE datname LIKE %s" if kind == "postgres"
           else "SELECT schema_name AS n FROM information_schema.schemata WHERE schema_name LIKE %s")
    with DatabaseConnection.from_url(admin, name="probe", max_retries=0) as conn:
        return [str(r["n"]) for r in conn.execute(sql, (target[:40] + "\\_dbk\\_%",)).rows]


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize("whole_group", [False, True], ids=["process", "process-group"])
def test_sigterm_mid_restore_cleans_up_like_ctrl_c(kind: str, source: DatabaseURL, tmp_path: Path,
                                                   whole_group: bool) -> None:
    workspace = tmp_path / "ws"
    backup = BackupManager(workspace, source).create_backup("sig", compression="zstd")
    assert backup.success, backup.error_message
    with scratch_database(server_url(kind), prefix="dbk_sigdst") as target:
        with DatabaseConnection.from_url(target, name="seed", max_retries=0) as conn:
            conn.execute("CREATE TABLE old_rows (id integer PRIMARY KEY)")
            conn.execute("INSERT INTO old_rows VALUES (1), (2), (3)")
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir()
        env = {**os.environ, "TMPDIR": str(tmpdir)}
        # docker and `kill` signal the process alone; timeout and systemd signal the whole group.
        proc = subprocess.Popen(
            [sys.executable, "-m", "dbkeeper.cli", "backup", "restore", backup.backup_id, "--to", str(target),
             "--replace", "--workspace", str(workspace)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait_for(lambda: bool(_scratch_databases(kind, target.database or "")))
            time.sleep(0.3)
            assert proc.poll() is None, "the restore finished before it could be terminated"
            if whole_group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 143, stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()
        assert _scratch_databases(kind, target.database or "") == []
        assert list(tmpdir.iterdir()) == [], "a temp directory (client option / password file) was left behind"
        assert _scalar(target, "SELECT count(*) AS n FROM old_rows") == 3
