"""The connection pool: limits, timeouts, recycling, pre-ping, invalidation, threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dbkeeper.engine.pool import ConnectionPool, PoolTimeout


@pytest.fixture
def opened(tmp_path: Path) -> list[sqlite3.Connection]:
    return []


@pytest.fixture
def make_pool(tmp_path: Path, opened: list[sqlite3.Connection]):  # type: ignore[no-untyped-def]
    def creator() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "pool.db", check_same_thread=False)
        opened.append(conn)
        return conn

    def ping(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT 1")

    def make(**options: object) -> ConnectionPool:
        return ConnectionPool(creator, ping=ping, **options)  # type: ignore[arg-type]

    return make


def test_connections_are_reused_most_recent_first(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=2, max_overflow=0)
    a, b = pool.checkout(), pool.checkout()
    a.release()
    b.release()
    assert pool.checkout().raw is b.raw
    assert len(opened) == 2


def test_overflow_connections_are_closed_on_return(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=2, timeout=0.2)
    entries = [pool.checkout() for _ in range(3)]
    assert pool.status() == {"size": 1, "checkedin": 0, "checkedout": 3, "overflow": 2}
    with pytest.raises(PoolTimeout):
        pool.checkout()
    for entry in entries:
        entry.release()
    assert pool.status()["checkedin"] == 1 and pool.status()["checkedout"] == 0
    with pytest.raises(sqlite3.ProgrammingError):
        opened[1].execute("SELECT 1")


def test_a_waiter_gets_the_connection_someone_returns(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=0, timeout=5)
    held = pool.checkout()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.checkout().raw))
    waiter.start()
    time.sleep(0.1)
    held.release()
    waiter.join(5)
    assert got == [held.raw]


def test_invalidated_connections_are_closed_and_replaced(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=0)
    entry = pool.checkout()
    entry.invalidate()
    entry.release()
    assert pool.checkout().raw is not opened[0]
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")


def test_dispose_closes_idle_connections_and_retires_checked_out_ones(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=2, max_overflow=0)
    idle, busy = pool.checkout(), pool.checkout()
    idle.release()
    pool.dispose()
    busy.release()
    assert pool.status()["checkedin"] == 0
    fresh = pool.checkout()
    assert fresh.raw not in opened[:2]


def test_recycle_replaces_old_connections(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=0, recycle=0.05)
    first = pool.checkout()
    first.release()
    time.sleep(0.1)
    assert pool.checkout().raw is not first.raw
    assert len(opened) == 2


def test_pre_ping_replaces_dead_connections(make_pool, opened) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=0, pre_ping=True)
    first = pool.checkout()
    first.release()
    first.raw.close()
    second = pool.checkout()
    assert second.raw is not first.raw
    second.raw.execute("SELECT 1")


def test_a_failing_creator_frees_its_slot(tmp_path: Path) -> None:
    calls = {"n": 0}

    def creator() -> sqlite3.Connection:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("server not up yet")
        return sqlite3.connect(tmp_path / "x.db", check_same_thread=False)

    pool = ConnectionPool(creator, size=1, max_overflow=0, timeout=0.2)
    with pytest.raises(OSError, match="not up yet"):
        pool.checkout()
    assert pool.checkout().raw is not None


def test_many_threads_never_exceed_the_limit(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=2, max_overflow=1, timeout=10)
    peak = {"now": 0, "max": 0}
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            entry = pool.checkout()
            with lock:
                peak["now"] += 1
                peak["max"] = max(peak["max"], peak["now"])
            time.sleep(0.0005)
            with lock:
                peak["now"] -= 1
            entry.release()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak["max"] <= 3
    assert pool.status()["checkedout"] == 0


def test_a_closed_pool_does_not_make_callers_wait(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(size=1, max_overflow=0, timeout=30)
    held = pool.checkout()
    pool.close()
    start = time.monotonic()
    with pytest.raises(PoolTimeout):
        pool.checkout()
    assert time.monotonic() - start < 5
    held.release()
