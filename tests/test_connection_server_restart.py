"""A server restarts under a busy pool: the next query succeeds, and nothing is committed twice.

A PRIVATE PostgreSQL and a PRIVATE MariaDB (never the shared servers) are
stopped cleanly and started again on the same data directory and port while
several threads query and insert through one pooled ``DatabaseConnection``.
Every insert carries a unique id into a table *without* a unique constraint,
so a statement sent twice would show up as a duplicate row. The dialect
decides what the failures mean (``is_disconnect``, ``statement_not_executed``,
``is_permanent_connect_error``): dead connections are dropped, the server's
"starting up" refusals are retried, and a write whose fate is unknown is
reported to the caller, never repeated.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import DbKeeperError
from dbkeeper.testing import private_servers
from dbkeeper.testing.private_servers import PrivateServer, PrivateServerUnavailable
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.testing.servers import check_server

T = TypeVar("T")
WORKERS = 4


def available(step: Callable[[], T]) -> T:
    try:
        return step()
    except PrivateServerUnavailable as exc:
        unavailable(f"private server unavailable: {exc}")


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    start = private_servers.start_postgres if request.param == "postgres" else private_servers.start_mariadb
    running = available(start)
    try:
        yield running
    finally:
        running.stop()


def restart(server: PrivateServer) -> None:
    """Stop the server cleanly, then start the very same command again (same user, environment, data, port)."""
    pid = server.process.pid
    proc = Path(f"/proc/{pid}")
    command = proc.joinpath("cmdline").read_bytes().split(b"\0")[:-1]
    environment = dict(entry.split(b"=", 1) for entry in proc.joinpath("environ").read_bytes().split(b"\0")
                       if b"=" in entry)
    cwd = os.readlink(proc / "cwd")
    status = dict(line.split(":", 1) for line in proc.joinpath("status").read_text().splitlines() if ":" in line)
    uid, gid = int(status["Uid"].split()[0]), int(status["Gid"].split()[0])
    groups = [int(g) for g in status.get("Groups", "").split()]
    server.process.send_signal(signal.SIGINT if server.kind == "postgres" else signal.SIGTERM)
    server.process.wait(timeout=60)
    with open(server.log, "ab") as log:
        server.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=cwd, env=environment, start_new_session=True, user=uid, group=gid,
                                          extra_groups=groups)
    deadline = time.monotonic() + private_servers.START_TIMEOUT
    while check_server(server.url) is not None:
        assert server.process.poll() is None, f"the server did not come back:\n{server.log_tail()}"
        assert time.monotonic() < deadline, f"the server did not answer again:\n{server.log_tail()}"
        time.sleep(0.05)


class Workload:
    """Threads that insert unique ids and read counts until told to stop, remembering what they were told."""

    def __init__(self, conn: DatabaseConnection) -> None:
        self.conn = conn
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.committed: list[int] = []  # inserts that returned normally
        self.unknown: list[int] = []  # inserts that raised: committed or not, the caller was told it failed
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(WORKERS)]

    def _run(self, worker: int) -> None:
        while not self.stop.is_set():
            with self.lock:
                ident = next(self.ids)
            try:
                self.conn.execute("INSERT INTO hits (id, worker) VALUES (?, ?)", (ident, worker))
            except DbKeeperError as exc:
                with self.lock:
                    self.unknown.append(ident)
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                with self.lock:
                    self.committed.append(ident)
            try:
                self.conn.execute("SELECT COUNT(*) AS n FROM hits WHERE worker = ?", (worker,))
            except DbKeeperError as exc:
                with self.lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def wait_for(self, inserts: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.committed) < inserts:
            assert time.monotonic() < deadline, f"only {len(self.committed)} inserts; errors: {self.errors[-3:]}"
            time.sleep(0.01)


def test_a_server_restart_under_a_busy_pool_loses_nothing_and_commits_nothing_twice(server: PrivateServer) -> None:
    conn = DatabaseConnection.from_url(server.url, name="busy", connection_pool_size=WORKERS + 1, max_retries=5)
    conn.connect()
    try:
        conn.execute("CREATE TABLE hits (id INTEGER NOT NULL, worker INTEGER NOT NULL)")
        with Workload(conn) as load:
            load.wait_for(100)
            restart(server)
            assert conn.execute("SELECT COUNT(*) AS n FROM hits").scalar() >= 100  # the next query succeeds
            after = len(load.committed)
            load.wait_for(after + 100)  # and the workers go on
        rows = conn.execute("SELECT id FROM hits").rows
    finally:
        conn.disconnect()
    stored = [row["id"] for row in rows]
    assert len(stored) == len(set(stored)), "an insert was committed twice"
    assert set(load.committed) <= set(stored), "an insert reported as done is missing"
    assert set(stored) <= set(load.committed) | set(load.unknown), "a row nobody inserted"
    assert all(message.startswith(("ConnectionLostError", "ConnectionError")) for message in load.errors), \
        load.errors[:5]
    assert conn.reconnects >= 1  # the restart was seen, and survived
