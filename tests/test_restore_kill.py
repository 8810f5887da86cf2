"""SIGKILL a real ``dbkeeper backup restore --replace`` at ten points of its run, on MariaDB and on SQLite.

After each kill the target holds the old data or the new data, never none
and never a mix; what the kill left is listed by the dialect's
``restore_leftovers`` and removed by ``remove_restore_leftover``, after which
the target's views, triggers, routines and events match its tables (old with
old, new with new) and nothing is left.

The points: eight delays spread over the run (measured once, uninterrupted,
on the same data) and, on MariaDB, two points the server holds the restore
at with a metadata lock taken by the test: the ``RENAME TABLE`` (old
triggers already dropped) and the replacement of the views after it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.pytest_plugin import require_server
from dbkeeper.testing.servers import scratch_database
from dbkeeper.urls import DatabaseURL

ROWS = 150_000
DELAYS = 8

OLD = [
    "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))",
    "INSERT INTO t VALUES (1, 'old'), (2, 'old')",
    "CREATE TABLE only_old (x int)",
    "CREATE TABLE audit (msg varchar(40))",
    "CREATE TRIGGER t_old BEFORE INSERT ON t FOR EACH ROW INSERT INTO audit VALUES ('old trigger')",
    "CREATE VIEW v_old AS SELECT id FROM t",
    "CREATE VIEW v_const AS SELECT 1 AS one",
    "CREATE PROCEDURE p_old() SELECT 1",
]
NEW = [
    "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))",
    "INSERT INTO t VALUES (1, 'new'), (2, 'new'), (3, 'new')",
    "CREATE TABLE audit (msg varchar(40))",
    "CREATE TABLE big (id int PRIMARY KEY, pad varchar(80))",
    "INSERT INTO big WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000) "
    f"SELECT a.g * 1000 + b.g, concat(md5(a.g), md5(b.g)) FROM s a, s b WHERE a.g <= {ROWS // 1000}",
    "CREATE TRIGGER t_new BEFORE INSERT ON t FOR EACH ROW INSERT INTO audit VALUES ('new trigger')",
    "CREATE VIEW v_new AS SELECT id FROM t WHERE v = 'new'",
    "CREATE PROCEDURE p_new() SELECT COUNT(*) AS n FROM t",
    "CREATE EVENT e_new ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit",
]
OLD_STATE = {"t": [(1, "old"), (2, "old")], "big": None,
             "objects": {"tables": ["audit", "only_old", "t"], "views": ["v_const", "v_old"], "triggers": ["t_old"],
                         "routines": ["p_old"], "events": []}}
NEW_STATE = {"t": [(1, "new"), (2, "new"), (3, "new")], "big": ROWS,
             "objects": {"tables": ["audit", "big", "t"], "views": ["v_new"], "triggers": ["t_new"],
                         "routines": ["p_new"], "events": ["e_new"]}}


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def start_restore(backup_id: str, target: str, workspace: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dbkeeper.cli", "backup", "restore", backup_id, "--to", target,
                             "--replace", "--workspace", str(workspace)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the restore and its client tool (the whole process group, as systemd's last resort does)."""
    with_pid = proc.poll() is None
    if with_pid:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def timed_run(backup_id: str, target: str, workspace: Path) -> float:
    start = time.perf_counter()
    proc = start_restore(backup_id, target, workspace)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - start


# -- MariaDB ---------------------------------------------------------------------------------------------
def run(url: DatabaseURL, statements: list[str]) -> None:
    with DatabaseConnection.from_url(url, name="setup", max_retries=0) as conn:
        for sql in statements:
            conn.execute(sql)


def query(url: DatabaseURL, sql: str) -> list[tuple[Any, ...]]:
    with DatabaseConnection.from_url(url, name="probe", max_retries=0) as conn:
        return [tuple(r.values()) for r in conn.execute(sql).rows]


def mysql_state(url: DatabaseURL) -> dict[str, Any]:
    name = url.database
    admin = url.with_database("")
    kinds = {"tables": f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{name}' "
                       "AND table_type = 'BASE TABLE' ORDER BY 1",
             "views": f"SELECT table_name FROM information_schema.views WHERE table_schema = '{name}' ORDER BY 1",
             "triggers": f"SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = '{name}' "
                         "ORDER BY 1",
             "routines": f"SELECT routine_name FROM information_schema.routines WHERE routine_schema = '{name}' "
                         "ORDER BY 1",
             "events": f"SELECT event_name FROM information_schema.events WHERE event_schema = '{name}' ORDER BY 1"}
    objects = {k: [r[0] for r in query(admin, sql)] for k, sql in kinds.items()}
    big = query(url, "SELECT COUNT(*) FROM big")[0][0] if "big" in objects["tables"] else None
    return {"t": query(url, "SELECT id, v FROM t ORDER BY id"), "big": big, "objects": objects}


def mysql_leftovers(url: DatabaseURL) -> list[str]:
    with DatabaseConnection.from_url(url, name="leftovers", max_retries=0) as conn:
        return conn.dialect.restore_leftovers(conn)


def remove_mysql_leftovers(url: DatabaseURL) -> list[str]:
    with DatabaseConnection.from_url(url, name="leftovers", max_retries=0) as conn:
        names = conn.dialect.restore_leftovers(conn)
        for name in names:
            if name in conn.dialect.restore_leftovers(conn):  # removing a scratch schema removes its aside twin
                conn.dialect.remove_restore_leftover(conn, name)
        return names


def our_schemas(url: DatabaseURL) -> list[str]:
    return [r[0] for r in query(url.with_database(""), "SELECT schema_name FROM information_schema.schemata "
                                f"WHERE schema_name LIKE '{url.database}\\_dbk\\_%'")]


def waiting(url: DatabaseURL, statement: str) -> bool:
    rows = query(url.with_database(""), "SELECT state FROM information_schema.processlist "
                 f"WHERE info LIKE '{statement}%' AND state LIKE 'Waiting for%metadata lock'")
    return bool(rows)


@pytest.fixture
def mysql_admin() -> DatabaseURL:
    url = require_server("mysql")
    return url


@pytest.fixture
def mysql_backup(mysql_admin: DatabaseURL, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with scratch_database(mysql_admin, prefix="dbk_killsrc") as source:
        run(source, NEW)
        manager = BackupManager(tmp_path / "ws", source)
        result = manager.create_backup("src", compression="zstd")
        assert result.success, result.error_message
        yield result.backup_id, tmp_path / "ws"


def reset(admin: DatabaseURL, target: DatabaseURL) -> None:
    for schema in our_schemas(target):
        run(admin, [f"DROP DATABASE `{schema}`"])
    run(admin, [f"DROP DATABASE IF EXISTS `{target.database}`", f"CREATE DATABASE `{target.database}`"])
    run(target, OLD)


def check_after_kill(target: DatabaseURL, point: str) -> tuple[str, bool]:
    """The target is whole (old or new) now and once the leftovers are removed; return which, and if any were."""
    wait_for(lambda: not query(target.with_database(""), "SELECT 1 FROM information_schema.processlist "
                               f"WHERE info LIKE 'RENAME TABLE%{target.database}%' OR db LIKE "
                               f"'{target.database}\\_dbk\\_%'"))
    wait_for(lambda: set(mysql_leftovers(target)) == set(our_schemas(target)))  # the dead session's lock is freed
    state = mysql_state(target)
    assert (state["t"], state["big"]) in ((OLD_STATE["t"], None), (NEW_STATE["t"], ROWS)), point
    assert state["objects"]["tables"] in (OLD_STATE["objects"]["tables"], NEW_STATE["objects"]["tables"]), point
    removed = remove_mysql_leftovers(target)
    assert mysql_leftovers(target) == [], point
    assert our_schemas(target) == [], point
    after = mysql_state(target)
    assert after in (OLD_STATE, NEW_STATE), (point, after)
    assert after["t"] == state["t"], point  # removing the leftovers did not change the data
    return ("old" if after == OLD_STATE else "new"), bool(removed)


def test_sigkill_mysql_restore_at_ten_points(mysql_admin: DatabaseURL, mysql_backup: tuple[str, Path]) -> None:
    backup_id, workspace = mysql_backup
    with scratch_database(mysql_admin, prefix="dbk_killtgt") as target:
        reset(mysql_admin, target)
        duration = timed_run(backup_id, str(target), workspace)
        assert mysql_state(target) == NEW_STATE
        outcomes = []
        for i in range(DELAYS):
            reset(mysql_admin, target)
            proc = start_restore(backup_id, str(target), workspace)
            time.sleep(duration * (i + 0.5) / DELAYS)
            kill(proc)
            outcomes.append(check_after_kill(target, f"after {duration * (i + 0.5) / DELAYS:.2f} s"))
        outcomes.append(_kill_while_held(mysql_admin, target, backup_id, workspace, "RENAME TABLE",
                                         "BEGIN", "SELECT * FROM only_old"))
        outcomes.append(_kill_while_held(mysql_admin, target, backup_id, workspace, "DROP VIEW",
                                         "BEGIN", "SELECT * FROM v_const"))
        # Held at those two points, the restore always left its schemas, and removing them finished or undid it
        # (a statement waiting for a lock still runs on the server once the lock is released, killed client or
        # not, so the RENAME may complete: the marker table moved with it tells remove_restore_leftover which).
        assert [left for _, left in outcomes[-2:]] == [True, True]
        assert outcomes[-1][0] == "new"
        assert ("old", True) in outcomes[:DELAYS]  # the delays did reach the load


def _kill_while_held(admin: DatabaseURL, target: DatabaseURL, backup_id: str, workspace: Path, statement: str,
                     *hold: str) -> tuple[str, bool]:
    """Kill the restore while the server makes ``statement`` wait for a metadata lock this test holds."""
    reset(admin, target)
    holder: Any = DatabaseConnection.from_url(target, name="holder", max_retries=0).dialect.connect(target)
    cur = holder.cursor()
    cur.execute("SELECT CONNECTION_ID()")
    holder_id = cur.fetchall()[0][0]
    *first, last = hold
    for sql in first:
        cur.execute(sql)
    worker = threading.Thread(target=lambda: _quietly(cur, last), daemon=True)
    worker.start()
    try:
        proc = start_restore(backup_id, str(target), workspace)
        wait_for(lambda: waiting(target, statement))
        kill(proc)
    finally:
        run(admin, [f"KILL {int(holder_id)}"])
        worker.join(60)
    return check_after_kill(target, f"held at {statement}")


def _quietly(cur: Any, sql: str) -> None:
    try:
        cur.execute(sql)
        cur.fetchall()
    except Exception:  # the session is killed by the test on purpose
        return


# -- SQLite ----------------------------------------------------------------------------------------------
def make_sqlite(path: Path, marker: str, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, pad BLOB)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (v, pad) VALUES (?, randomblob(200))", [(marker,)] * rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def sqlite_state(path: Path) -> tuple[str, Any, int]:
    conn = sqlite3.connect(path)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        markers = conn.execute("SELECT v, COUNT(*) FROM t GROUP BY v").fetchall()
        return ok, markers, conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_sigkill_sqlite_restore_at_ten_points(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    make_sqlite(source, "new", 150_000)
    workspace = tmp_path / "ws"
    url = DatabaseURL(scheme="sqlite", database=str(source))
    result = BackupManager(workspace, url).create_backup("src", compression="zstd")
    assert result.success, result.error_message
    target = tmp_path / "target.db"
    target_url = DatabaseURL(scheme="sqlite", database=str(target))
    make_sqlite(target, "old", 1000)
    duration = timed_run(result.backup_id, f"sqlite:///{target}", workspace)
    seen = set()
    for i in range(10):
        target.unlink()
        make_sqlite(target, "old", 1000)
        proc = start_restore(result.backup_id, f"sqlite:///{target}", workspace)
        time.sleep(duration * (i + 0.5) / 10)
        kill(proc)
        state = sqlite_state(target)
        assert state[0] == "ok" and state[1] in ([("old", 1000)], [("new", 150_000)]), (i, state)
        seen.add(state[1][0][0])
        with DatabaseConnection.from_url(target_url, name="leftovers") as conn:
            leftovers = conn.dialect.restore_leftovers(conn)
            assert all(Path(name).parent == tmp_path and Path(name).name.startswith(".target.db.dbkeeper-restore-")
                       for name in leftovers), leftovers
            for name in leftovers:
                conn.dialect.remove_restore_leftover(conn, name)
            assert conn.dialect.restore_leftovers(conn) == []
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".target")) == []
        assert sqlite_state(target) == state
    assert "old" in seen
