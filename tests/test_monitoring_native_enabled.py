"""Monitoring's "enabled" paths: pg_stat_statements preloaded, MariaDB's performance_schema ON.

The shared test servers run with neither, and restarting them would disturb
every other test, so these tests use private servers started for the session
(``private_postgres_url`` / ``private_mariadb_url`` in ``conftest.py``, from
:mod:`dbkeeper.testing.private_servers`). Each statistic must reflect what the
test itself ran -- counted calls, rows, an index that was or was not used --
and a role that may not read the statistics must get "unavailable" with the
reason, never a number. The disabled paths (extension missing or not
preloaded, performance_schema OFF) are tested on the shared servers in
``test_monitoring_native.py`` and ``test_monitoring_advisor.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.monitoring.advisor import Advice, advise
from dbkeeper.monitoring.api import DatabasePerformanceMonitor
from dbkeeper.monitoring.native import collect_native, unexplained
from dbkeeper.monitoring.plans import indexed_tables
from dbkeeper.urls import DatabaseURL

CALLS = 30
ROWS = 5_000




def as_user(url: DatabaseURL, admin: str, user: str) -> DatabaseURL:
    """``url`` with ``user`` instead of ``admin`` (no password: the private servers trust local logins)."""
    return DatabaseURL.parse(url.render(hide_password=False).replace(f"//{admin}@", f"//{user}@"))


def create_events(conn: DatabaseConnection, *, indexes: tuple[str, ...] = ()) -> None:
    """``events`` with ``ROWS`` rows: 500 customers, 7 kinds; ``indexes`` are plain indexes on those columns."""
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, "
        "kind VARCHAR(16) NOT NULL, created INTEGER NOT NULL)"
    )
    conn.bulk_insert(
        "events", [(i, i % 500, f"k{i % 7}", 1_000_000 + i) for i in range(ROWS)], ["id", "customer", "kind", "created"]
    )
    for column in indexes:
        conn.execute(f"CREATE INDEX ix_events_{column} ON events ({column})")
    conn.execute(f"ANALYZE {'TABLE ' if conn.dialect.name == 'mysql' else ''}events")


def by_text(statements: list[dict[str, Any]], *needles: str) -> list[dict[str, Any]]:
    """The statements whose (fingerprinted) text contains every needle, case-insensitively."""
    return [s for s in statements if all(n.lower() in s["query"].lower() for n in needles)]


def unused(advice: Advice) -> list[str]:
    return sorted(str(r.evidence["index"]) for r in advice.recommendations if r.kind == "unused_index")


# -- PostgreSQL: pg_stat_statements ---------------------------------------------------------------------------
def test_pg_stat_statements_reports_the_statements_this_test_ran(
    private_postgres_url: DatabaseURL, workspace: Path
) -> None:
    monitor = DatabasePerformanceMonitor(workspace)
    with DatabaseConnection.from_url(private_postgres_url) as conn:
        counted = [
            conn.execute("SELECT COUNT(*) FROM generate_series(1, 20000) AS g WHERE g % ? = 0", (divisor,)).scalar()
            for divisor in range(2, 2 + CALLS)
        ]
        native = monitor.collect_native_metrics(conn)
    assert counted == [20_000 // d for d in range(2, 2 + CALLS)]
    assert "pg_stat_statements" not in native["unavailable"]
    assert native["pg_stat_statements_hidden"] == 0
    assert unexplained(native) == [], native["unavailable"]
    statements = native["pg_stat_statements"]
    totals = [s["total_ms"] for s in statements]
    assert totals == sorted(totals, reverse=True)  # the top statements by total time
    [mine] = by_text(statements, "generate_series")
    assert mine["calls"] == CALLS  # a fresh database: only this test's calls
    assert mine["rows"] == CALLS  # one row each
    assert mine["total_ms"] > 0
    assert mine["mean_ms"] == pytest.approx(mine["total_ms"] / CALLS, rel=0.01)
    # Fingerprinted: the constants the statement carried never reach a report.
    assert "20000" not in mine["query"] and "?" in mine["query"]


def test_pg_stat_statements_preloaded_but_not_created_in_the_database_is_unavailable(
    private_postgres_url: DatabaseURL, workspace: Path
) -> None:
    with DatabaseConnection.from_url(private_postgres_url) as conn:
        conn.execute("DROP EXTENSION pg_stat_statements")
        native = collect_native(conn)
        assert native["pg_stat_statements"] is None
        assert "CREATE EXTENSION pg_stat_statements" in native["unavailable"]["pg_stat_statements"]
        assert unexplained(native) == [], native["unavailable"]
        # Created in a schema off the search path, as extension-hygienic setups do: still found.
        conn.execute("CREATE SCHEMA tools")
        conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA tools")
        for divisor in (3, 5, 7):  # heavy enough to rank among the top ten statements
            conn.execute(
                "SELECT COUNT(*) FROM generate_series(1, 200000) AS tools_probe WHERE tools_probe % ? = 0", (divisor,)
            )
        native = collect_native(conn)
    assert "pg_stat_statements" not in native["unavailable"]
    [mine] = by_text(native["pg_stat_statements"], "tools_probe")
    assert mine["calls"] == 3


def test_pg_stat_statements_of_other_roles_are_hidden_without_pg_read_all_stats(
    private_postgres_url: DatabaseURL, workspace: Path
) -> None:
    role = f"dbk_watcher_{uuid.uuid4().hex[:8]}"
    with DatabaseConnection.from_url(private_postgres_url, name="admin") as admin:
        for _ in range(4):
            admin.execute("SELECT COUNT(*) FROM generate_series(1, 200000) AS admin_series")
        admin.execute(f"CREATE ROLE {role} LOGIN")
        try:
            with DatabaseConnection.from_url(as_user(private_postgres_url, "postgres", role), name="limited") as conn:
                conn.execute("SELECT COUNT(*) FROM generate_series(1, 100000) AS own_series")
                limited = collect_native(conn)
                admin.execute(f"GRANT pg_read_all_stats TO {role}")
                granted = collect_native(conn)
        finally:
            admin.execute(f"DROP ROLE {role}")
    # Without pg_read_all_stats: its own statement is listed, the superuser's are counted as hidden.
    assert by_text(limited["pg_stat_statements"], "own_series")
    assert not by_text(limited["pg_stat_statements"], "admin_series")
    assert not by_text(limited["pg_stat_statements"], "insufficient privilege")
    assert limited["pg_stat_statements_hidden"] >= 1
    assert "pg_read_all_stats" in limited["unavailable"]["pg_stat_statements_hidden"]
    assert unexplained(limited) == [], limited["unavailable"]
    # With it, nothing is hidden and the superuser's statement is there with its calls.
    assert granted["pg_stat_statements_hidden"] == 0
    assert "pg_stat_statements_hidden" not in granted["unavailable"]
    [theirs] = by_text(granted["pg_stat_statements"], "admin_series")
    assert theirs["calls"] == 4


# -- MariaDB: performance_schema -------------------------------------------------------------------------------
def test_performance_schema_digests_report_the_statements_this_test_ran(
    private_mariadb_url: DatabaseURL, workspace: Path
) -> None:
    monitor = DatabasePerformanceMonitor(workspace)
    with DatabaseConnection.from_url(private_mariadb_url) as conn:
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, reading INTEGER NOT NULL)")
        conn.bulk_insert("readings", [(i, i % 1000) for i in range(2_000)], ["id", "reading"])
        counted = [
            conn.execute("SELECT COUNT(*) FROM readings WHERE reading >= ?", (floor * 10,)).scalar()
            for floor in range(CALLS)
        ]
        native = monitor.collect_native_metrics(conn)
    assert counted == [2 * (1000 - floor * 10) for floor in range(CALLS)]
    assert native["performance_schema_digests"] is True
    assert "statement_digests" not in native["unavailable"]
    assert unexplained(native) == [], native["unavailable"]
    digests = native["statement_digests"]
    totals = [d["total_ms"] for d in digests]
    assert totals == sorted(totals, reverse=True)
    [mine] = by_text(digests, "readings", "count")
    assert mine["calls"] == CALLS  # a fresh schema: only this test's calls
    assert mine["rows_examined"] >= CALLS * 2_000  # no index on reading: every call reads the table
    assert mine["total_ms"] > 0
    assert mine["mean_ms"] == pytest.approx(mine["total_ms"] / CALLS, rel=0.05)
    assert "?" in mine["query"] and "290" not in mine["query"]  # literals are normalised away


def test_unused_index_is_found_and_the_used_ones_are_not(private_mariadb_url: DatabaseURL, workspace: Path) -> None:
    with DatabaseConnection.from_url(private_mariadb_url) as conn:
        create_events(conn, indexes=("customer", "kind"))
        conn.execute("CREATE UNIQUE INDEX ux_events_created ON events (created)")  # unused, but a constraint
        conn.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL, "
            "CONSTRAINT fk_notes_event FOREIGN KEY (event_id) REFERENCES events (id))"
        )
        conn.bulk_insert("notes", [(i, i) for i in range(ROWS)], ["id", "event_id"])  # its FK index: unused
        probe = "SELECT id, kind FROM events WHERE customer = ?"
        assert "events" in indexed_tables(conn.explain(probe, (3,)))
        found = [len(conn.execute(probe, (customer,)).rows) for customer in range(25)]
        assert found == [10] * 25
        native = collect_native(conn)
        advice = advise(conn, native=native)
        usage = {(u["table"], u["index"]): u["scans"] for u in native["index_usage"]}
        assert usage[("events", "ix_events_customer")] >= 25 * 10  # rows read through it
        assert usage[("events", "ix_events_kind")] == 0
        assert "unused_index" not in advice.unavailable
        assert unused(advice) == ["ix_events_kind"]  # not the used index, the unique one nor the FK's
        [rec] = [r for r in advice.recommendations if r.kind == "unused_index"]
        assert rec.table == "events"
        assert rec.fix == "ALTER TABLE `events` DROP INDEX `ix_events_kind`, ALGORITHM=INPLACE, LOCK=NONE"
        assert rec.evidence["scans"] == 0 and rec.evidence["table_rows"] >= 1_000
        conn.execute(rec.fix)
        assert "ix_events_kind" not in {i.name for i in conn.introspect(["events"])[0].indexes}
        # MariaDB may restart the table's counters after the ALTER: the index in use must not look unused.
        assert unused(advise(conn)) == []
        for customer in range(5):
            conn.execute(probe, (customer,))
        native = collect_native(conn)
        after = advise(conn, native=native)
    assert unused(after) == []
    assert "unused_index" not in after.unavailable
    assert {u["index"]: u["scans"] for u in native["index_usage"]}["ix_events_customer"] >= 5 * 10


def test_a_clean_database_gets_no_recommendation_with_performance_schema_on(
    private_mariadb_url: DatabaseURL, workspace: Path
) -> None:
    with DatabaseConnection.from_url(private_mariadb_url) as conn:
        create_events(conn, indexes=("customer",))
        conn.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events (id), "
            "body VARCHAR(32))"
        )
        conn.execute("CREATE INDEX ix_notes_event ON notes (event_id)")
        conn.bulk_insert("notes", [(i, i, "x") for i in range(ROWS)], ["id", "event_id", "body"])
        conn.execute("ANALYZE TABLE notes")
        for customer in range(20):
            conn.execute("SELECT id FROM events WHERE customer = ?", (customer,))
            conn.execute("SELECT body FROM notes WHERE event_id = ?", (customer,))
            conn.execute("SELECT kind FROM events WHERE id = ?", (customer,))
        native = collect_native(conn)
        advice = advise(conn, DatabasePerformanceMonitor(workspace).query_analysis(conn.name), native=native)
    assert advice.recommendations == [], advice.to_dict()
    # Quiet because the checks ran and found nothing, not because they could not run.
    assert native["index_usage"] and native["statement_digests"]
    assert "unused_index" not in advice.unavailable
    assert "missing_index" not in advice.unavailable


def test_performance_schema_without_select_on_it_is_unavailable(
    private_mariadb_url: DatabaseURL, workspace: Path
) -> None:
    user = f"dbk_lim_{uuid.uuid4().hex[:8]}"
    database = private_mariadb_url.database
    with DatabaseConnection.from_url(private_mariadb_url, name="admin") as admin:
        admin.execute(f"CREATE USER '{user}'@'127.0.0.1'")
        try:
            admin.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1'")
            with DatabaseConnection.from_url(as_user(private_mariadb_url, "root", user), name="limited") as conn:
                create_events(conn, indexes=("kind",))
                for ident in range(10):
                    conn.execute("SELECT kind FROM events WHERE id = ?", (ident,))
                denied = collect_native(conn)
                denied_advice = advise(conn, native=denied)
                admin.execute(f"GRANT SELECT ON performance_schema.* TO '{user}'@'127.0.0.1'")
                allowed = collect_native(conn)
                allowed_advice = advise(conn, native=allowed)
        finally:
            admin.execute(f"DROP USER '{user}'@'127.0.0.1'")
    assert denied["performance_schema_digests"] is None
    for key in ("performance_schema_digests", "statement_digests", "index_usage"):
        assert denied[key] is None
        assert "GRANT SELECT ON performance_schema" in denied["unavailable"][key], denied["unavailable"]
    assert "GRANT SELECT ON performance_schema" in denied_advice.unavailable["unused_index"]
    assert unused(denied_advice) == []
    assert unexplained(denied) == [], denied["unavailable"]
    # The grant is the whole fix: the seeded unused index is found.
    assert allowed["performance_schema_digests"] is True
    assert "unused_index" not in allowed_advice.unavailable
    assert unused(allowed_advice) == ["ix_events_kind"]
