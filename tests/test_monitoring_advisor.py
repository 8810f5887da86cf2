"""The advisor, check by check and dialect by dialect, against real databases.

Every check gets a seeded fault it must find (and whose fix must run) and a
clean database on which it must stay quiet. Where a dialect cannot give the
evidence (SQLite has no sessions; MariaDB without performance_schema counts
no index use) the check must say "unavailable", never guess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.engine.manager import DatabaseManager
from dbkeeper.errors import DbKeeperError
from dbkeeper.monitoring import optimize_database
from dbkeeper.monitoring.advisor import Advice, Recommendation, Thresholds, advise
from dbkeeper.monitoring.api import DatabasePerformanceMonitor
from dbkeeper.monitoring.plans import indexed_tables, scanned_tables
from dbkeeper.urls import DatabaseURL

DIALECTS = ["sqlite", "postgres", "mysql"]
ROWS = 5_000



@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, workspace: Path) -> DatabaseURL:
    """A scratch database of each dialect."""
    value: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return value


@pytest.fixture
def conn(url: DatabaseURL) -> Iterator[DatabaseConnection]:
    with DatabaseConnection.from_url(url) as connection:
        yield connection


def create_events(conn: DatabaseConnection, table: str = "events", rows: int = ROWS, *, options: str = "",
                  indexes: tuple[str, ...] = (), index_first: bool = False) -> None:
    """``table`` with an integer key and two unindexed columns, filled with ``rows`` rows.

    ``index_first`` creates the indexes before the rows go in (MariaDB refreshes a table's
    statistics when an index is added to a filled table).
    """
    conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, "
                 f"kind VARCHAR(16) NOT NULL, created INTEGER NOT NULL){options}")
    for column in indexes if index_first else ():
        conn.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")
    conn.bulk_insert(table, [(i, i % 500, f"k{i % 7}", 1_000_000 + i) for i in range(rows)],
                     ["id", "customer", "kind", "created"])
    for column in () if index_first else indexes:
        conn.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")


def kinds(advice: Advice | list[Recommendation]) -> list[str]:
    items = advice.recommendations if isinstance(advice, Advice) else advice
    return sorted(r.kind for r in items)


def eventually(probe: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    """``probe()`` once it returns something truthy (statistics reach the views asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def settle(conn: DatabaseConnection) -> None:
    """Wait until PostgreSQL's statistics views show every row written so far.

    Backends publish their counts up to ~10 s late; counts published after an
    ANALYZE would make a freshly analysed table look changed.
    """
    if conn.dialect.name != "postgres":
        return
    tables = conn.dialect.table_names(conn)

    def published() -> bool:
        for table in tables:
            live = conn.execute("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = ?", (table,)).scalar()
            if live != conn.execute(f"SELECT COUNT(*) FROM {table}").scalar():
                return False
        return True

    eventually(published, timeout=30.0)


def analyze(conn: DatabaseConnection) -> None:
    settle(conn)
    for table in conn.dialect.table_names(conn):
        conn.execute(f"ANALYZE {'TABLE ' if conn.dialect.name == 'mysql' else ''}{table}")


# -- missing index ------------------------------------------------------------------------------------------
def test_missing_index_is_found_and_its_fix_turns_the_scan_into_an_index_search(url: DatabaseURL) -> None:
    manager = DatabaseManager(url)
    try:
        conn = manager.get_connection()
        create_events(conn)
        for customer in range(25):
            manager.execute("SELECT id, kind FROM events WHERE customer = ?", (customer,))
        result = optimize_database(conn.name)  # by name: the manager's live connection is found
        found = [r for r in result["recommendations"] if r["kind"] == "missing_index"]
        assert len(found) == 1, result
        rec = found[0]
        assert rec["table"] == "events"
        assert rec["evidence"]["columns"] == ["customer"]
        assert rec["evidence"]["calls"] == 25
        assert rec["confidence"] == "high"
        probe = "SELECT id, kind FROM events WHERE customer = ?"
        assert "events" in scanned_tables(conn.explain(probe, (3,)))
        expected = {"sqlite": "CREATE INDEX", "postgres": "CREATE INDEX CONCURRENTLY",
                    "mysql": "ALGORITHM=INPLACE, LOCK=NONE"}[conn.dialect.name]
        assert expected in rec["fix"]
        conn.execute(rec["fix"])
        plan = conn.explain(probe, (3,))
        assert "events" in indexed_tables(plan), plan.text
        assert "events" not in scanned_tables(plan)
        again = optimize_database(conn.name)
        assert [r for r in again["recommendations"] if r["kind"] == "missing_index"] == []
    finally:
        manager.close_pool()


def test_range_predicates_get_an_index_on_the_range_column(url: DatabaseURL) -> None:
    manager = DatabaseManager(url)
    try:
        conn = manager.get_connection()
        create_events(conn)
        for i in range(12):
            manager.execute("SELECT id FROM events WHERE kind = 'k1' AND created BETWEEN ? AND ?",
                            (1_000_000 + i, 1_000_010 + i))
        advice = advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name))
        found = [r for r in advice.recommendations if r.kind == "missing_index"]
        assert [r.evidence["columns"] for r in found] == [["kind", "created"]]
    finally:
        manager.close_pool()


@pytest.mark.parametrize(("statement", "params", "columns"), [
    ("SELECT id FROM events WHERE customer IN (?, ?, ?)", (1, 2, 3), ["customer"]),
    ("UPDATE events SET kind = ? WHERE customer = ?", ("x", 4), ["customer"]),
    ("DELETE FROM events WHERE created < ? AND customer = ?", (5, 999_999), ["customer", "created"]),
])
def test_in_lists_updates_and_deletes_are_explained_too(conn: DatabaseConnection, statement: str,
                                                         params: tuple[object, ...], columns: list[str]) -> None:
    create_events(conn)
    for _ in range(3):
        conn.execute(statement, params)
    advice = advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name))
    found = [r for r in advice.recommendations if r.kind == "missing_index"]
    assert [r.evidence["columns"] for r in found] == [columns], advice.to_dict()
    assert found[0].confidence == "medium"  # only 3 calls


def test_no_index_is_suggested_when_one_already_covers_the_filter(conn: DatabaseConnection) -> None:
    create_events(conn, indexes=("customer",))
    for customer in range(20):
        conn.execute("SELECT id FROM events WHERE customer = ? AND created > ?", (customer, 5))
    advice = advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name))
    assert "missing_index" not in kinds(advice)


def test_small_tables_get_no_index_suggestion(conn: DatabaseConnection) -> None:
    create_events(conn, rows=50)
    for customer in range(20):
        conn.execute("SELECT id FROM events WHERE customer = ?", (customer,))
    advice = advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name))
    assert "missing_index" not in kinds(advice)


# -- a clean database ---------------------------------------------------------------------------------------
def test_a_clean_database_gets_no_recommendation(conn: DatabaseConnection) -> None:
    create_events(conn, indexes=("customer",))
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), "
                 "body VARCHAR(32))")
    conn.execute("CREATE INDEX ix_notes_event ON notes (event_id)")
    conn.bulk_insert("notes", [(i, i, "x") for i in range(ROWS)], ["id", "event_id", "body"])
    analyze(conn)
    for customer in range(20):
        conn.execute("SELECT id FROM events WHERE customer = ?", (customer,))
        conn.execute("SELECT body FROM notes WHERE event_id = ?", (customer,))
        conn.execute("SELECT kind FROM events WHERE id = ?", (customer,))

    def quiet() -> Advice | None:
        advice = advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name))
        return advice if not advice.recommendations else None

    advice = eventually(quiet)  # PostgreSQL publishes index scans a moment after they happen
    assert advice is not None, kinds(advise(conn, DatabasePerformanceMonitor().query_analysis(conn.name)))


# -- indexes from the catalog ------------------------------------------------------------------------------
def test_duplicate_index_is_found_and_dropped_without_blocking(conn: DatabaseConnection) -> None:
    create_events(conn, rows=100)
    conn.execute("CREATE INDEX ix_a_customer ON events (customer)")
    conn.execute("CREATE INDEX ix_b_customer_created ON events (customer, created)")
    found = [r for r in advise(conn).recommendations if r.kind == "duplicate_index"]
    assert [(r.evidence["index"], r.evidence["covered_by"]) for r in found] == [
        ("ix_a_customer", "ix_b_customer_created")]
    if conn.dialect.name == "postgres":
        assert found[0].fix.startswith("DROP INDEX CONCURRENTLY")
    conn.execute(found[0].fix)
    assert "duplicate_index" not in kinds(advise(conn))


def test_foreign_key_without_index_is_found(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents (id))")
    found = [r for r in advise(conn).recommendations if r.kind == "unindexed_foreign_key"]
    if conn.dialect.name == "mysql":
        assert found == []  # InnoDB creates an index for every foreign key itself
        return
    assert [r.evidence["columns"] for r in found] == [["parent_id"]]
    conn.execute(found[0].fix)
    assert "unindexed_foreign_key" not in kinds(advise(conn))


def test_unused_index_is_found_where_the_database_counts_index_use(conn: DatabaseConnection) -> None:
    create_events(conn, indexes=("kind",))
    analyze(conn)
    for ident in range(10):  # reads, none of them through the index on kind
        conn.execute("SELECT kind FROM events WHERE id = ?", (ident,))
    advice = advise(conn)
    found = [r for r in advice.recommendations if r.kind == "unused_index"]
    # MySQL/MariaDB count index use only with performance_schema ON (tested on a private server in
    # test_monitoring_native_enabled.py); the shared server runs MariaDB's default, OFF.
    counts = conn.dialect.name == "postgres" or (
        conn.dialect.name == "mysql" and bool(int(conn.execute("SELECT @@performance_schema").scalar() or 0)))
    if counts:
        assert [r.evidence["index"] for r in found] == ["ix_events_kind"]
        expected = {"postgres": 'DROP INDEX CONCURRENTLY "ix_events_kind"',
                    "mysql": "ALTER TABLE `events` DROP INDEX `ix_events_kind`, ALGORITHM=INPLACE, LOCK=NONE"}
        assert found[0].fix == expected[conn.dialect.name]
        conn.execute(found[0].fix)
    else:
        assert found == []
        assert "unused_index" in advice.unavailable


# -- native-statistics rules --------------------------------------------------------------------------------
def test_low_cache_hit_ratio_is_found_or_unavailable(conn: DatabaseConnection) -> None:
    create_events(conn, rows=100)
    conn.execute("SELECT COUNT(*) FROM events").scalar()
    # A real server's cumulative ratio is high; a demanding threshold makes it a finding.
    strict = Thresholds(cache_hit_ratio=1.01, cache_min_requests=1)
    advice = advise(conn, thresholds=strict)
    if conn.dialect.name == "sqlite":
        assert "cache_hit_ratio" in advice.unavailable
        return
    found = [r for r in advice.recommendations if r.kind == "low_cache_hit_ratio"]
    assert len(found) == 1
    assert found[0].fix.startswith({"postgres": "ALTER SYSTEM SET shared_buffers",
                                    "mysql": "SET GLOBAL innodb_buffer_pool_size"}[conn.dialect.name])
    assert 0.0 <= found[0].evidence["cache_hit_ratio"] <= 1.0
    assert "low_cache_hit_ratio" not in kinds(advise(conn, thresholds=Thresholds(cache_hit_ratio=0.0)))


def test_missing_then_stale_planner_statistics(conn: DatabaseConnection) -> None:
    options = {"postgres": " WITH (autovacuum_enabled = false)", "mysql": " STATS_AUTO_RECALC=0"}
    create_events(conn, options=options.get(conn.dialect.name, ""), indexes=("customer",), index_first=True)

    def found(kind: str) -> list[Recommendation]:
        return [r for r in advise(conn).recommendations if r.kind == kind and r.table == "events"]

    missing = eventually(lambda: found("missing_statistics"))
    assert missing, kinds(advise(conn))
    settle(conn)
    conn.execute(missing[0].fix)
    assert eventually(lambda: not found("missing_statistics"))
    conn.bulk_insert("events", [(ROWS + i, 1, "new", 5) for i in range(ROWS)], ["id", "customer", "kind", "created"])
    stale = eventually(lambda: found("stale_statistics"))
    assert stale, kinds(advise(conn))
    conn.execute(stale[0].fix)
    assert eventually(lambda: not found("stale_statistics") and not found("missing_statistics"))


def test_bloat_is_found_and_vacuumed(conn: DatabaseConnection) -> None:
    name = conn.dialect.name
    if name == "sqlite":
        conn.execute("CREATE TABLE padding (id INTEGER PRIMARY KEY, body TEXT)")
        conn.bulk_insert("padding", [(i, "x" * 400) for i in range(5_000)], ["id", "body"])
        conn.execute("DELETE FROM padding WHERE id > 100")
        thresholds = Thresholds()
    elif name == "postgres":
        create_events(conn, options=" WITH (autovacuum_enabled = false)")
        conn.execute("DELETE FROM events WHERE id % 2 = 0")
        thresholds = Thresholds()
    else:
        conn.execute("CREATE TABLE padding (id INTEGER PRIMARY KEY, body VARCHAR(500))")
        conn.bulk_insert("padding", [(i, "x" * 400) for i in range(20_000)], ["id", "body"])
        conn.execute("DELETE FROM padding WHERE id > 100")
        conn.execute("ANALYZE TABLE padding")
        # InnoDB hands free space back in whole extents, so a test-sized table frees a few MiB:
        # enough for a lower size threshold, and every fresh table already shows ~4 MiB free.
        thresholds = Thresholds(free_space_bytes=8 * 1_048_576)
    found = eventually(lambda: [r for r in advise(conn, thresholds=thresholds).recommendations if r.kind == "bloat"])
    assert found, kinds(advise(conn, thresholds=thresholds))
    fix = found[0].fix
    assert fix == {"sqlite": "VACUUM", "postgres": 'VACUUM (ANALYZE) "events"',
                   "mysql": "ALTER TABLE `padding` FORCE, ALGORITHM=INPLACE, LOCK=NONE"}[name]
    conn.execute(fix)
    if name != "mysql":
        assert eventually(lambda: "bloat" not in kinds(advise(conn)))


def test_sessions_and_saturation_are_unavailable_on_sqlite(dbkeeper_sqlite_url: DatabaseURL,
                                                           workspace: Path) -> None:
    with DatabaseConnection.from_url(dbkeeper_sqlite_url) as conn:
        advice = advise(conn, thresholds=Thresholds(long_query_seconds=0, connection_saturation=0))
    for check in ("long_running_query", "idle_in_transaction", "connection_saturation", "unused_index"):
        assert "SQLite" in advice.unavailable[check]
    assert advice.recommendations == []


SERVERS = ["postgres", "mysql"]


@pytest.fixture(params=SERVERS)
def server_url(request: pytest.FixtureRequest, workspace: Path) -> DatabaseURL:
    value: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return value


def test_long_running_query_is_found_and_cancelled(server_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(server_url, name="watcher") as conn, \
            DatabaseConnection.from_url(server_url, name="sleeper") as sleeper:
        sleep = "SELECT pg_sleep(30)" if conn.dialect.name == "postgres" else "SELECT SLEEP(30)"
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append(sleeper.execute(sleep).scalar())
            except DbKeeperError as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        strict = Thresholds(long_query_seconds=0.5)
        found = eventually(lambda: [r for r in advise(conn, thresholds=strict).recommendations
                                    if r.kind == "long_running_query"])
        assert len(found) == 1, found
        assert "sleep" in found[0].evidence["query"].lower()
        assert "?" in found[0].evidence["query"]  # fingerprinted: literals never reach a report
        conn.execute(found[0].fix)
        worker.join(timeout=20)
        assert not worker.is_alive()
        assert outcome  # cancelled long before its 30 s
        assert "long_running_query" not in kinds(advise(conn))


def test_idle_in_transaction_is_found_and_ended(server_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(server_url, name="watcher") as conn, \
            DatabaseConnection.from_url(server_url, name="idler", connection_pool_size=1) as idler:
        create_events(conn, rows=10)
        strict = Thresholds(idle_transaction_seconds=0.3)
        with pytest.raises(DbKeeperError), idler.transaction():
            idler.execute("UPDATE events SET kind = 'held' WHERE id = 1")
            found = eventually(lambda: [r for r in advise(conn, thresholds=strict).recommendations
                                        if r.kind == "idle_in_transaction"])
            assert len(found) == 1, kinds(advise(conn, thresholds=strict))
            assert found[0].evidence["transaction_seconds"] is not None
            conn.execute(found[0].fix)
            idler.execute("SELECT 1")  # the session is gone
        assert "idle_in_transaction" not in kinds(advise(conn, thresholds=strict))


def test_connection_saturation(server_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(server_url) as conn:
        assert "connection_saturation" not in kinds(advise(conn))
        found = [r for r in advise(conn, thresholds=Thresholds(connection_saturation=0.0)).recommendations
                 if r.kind == "connection_saturation"]
    assert len(found) == 1
    assert found[0].evidence["max_connections"] > 0
    assert "max_connections" in found[0].fix
