"""The prepared-statement runner (``dbkeeper_postgres.prepared``) against a real server.

A statement's first runs go through psycopg's cursor; from the connection's
``prepare_threshold``-th run on, the runner sends it as a server-side
prepared statement. Every test compares what the runner returns with what
the cursor returned for the same statement, so a difference in adaptation,
errors or state handling fails here.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import IntegrityError, QueryError
from dbkeeper.urls import DatabaseURL
from dbkeeper_postgres.prepared import numbered

pytestmark = pytest.mark.postgres

RUNS = 8  # past psycopg's default prepare_threshold (5)


@pytest.fixture
def conn(dbkeeper_postgres_url: DatabaseURL) -> Iterator[DatabaseConnection]:
    with DatabaseConnection.from_url(dbkeeper_postgres_url, record_queries=False) as connection:
        yield connection


def ours(conn: DatabaseConnection) -> list[str]:
    """Names of this session's prepared statements made by the runner."""
    rows = conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE '\\_dbk\\_%' ORDER BY name").rows
    return [r["name"] for r in rows]


def repeat(conn: DatabaseConnection, sql: str, params: Any, runs: int = RUNS) -> list[Any]:
    return [conn.execute(sql, params).rows for _ in range(runs)]


@pytest.mark.parametrize("numbered_case", [
    ("SELECT %s", "SELECT $1"),
    ("SELECT %s, %s FROM t WHERE a = %s", "SELECT $1, $2 FROM t WHERE a = $3"),
    ("SELECT '100%%' || %s", "SELECT '100%' || $1"),
    ("SELECT '%%s' AS literal", "SELECT '%s' AS literal"),
    ("SELECT %(a)s", None),
    ("SELECT %b", None),
    ("SELECT 5 %", None),
])
def test_placeholders_are_numbered_as_psycopg_reads_them(numbered_case: tuple[str, str | None]) -> None:
    sql, expected = numbered_case
    assert numbered(sql) == expected


@given(st.lists(st.sampled_from(["a", " ", "'", "%%", "%s", "x = ", ","]), max_size=30))
def test_numbering_matches_a_token_by_token_reading(pieces: list[str]) -> None:
    expected, n = [], 0
    for piece in pieces:
        if piece == "%s":
            n += 1
            expected.append(f"${n}")
        else:
            expected.append(piece.replace("%%", "%"))
    assert numbered("".join(pieces)) == "".join(expected)


def test_repeated_statements_become_prepared_and_return_what_the_cursor_returned(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE kinds (id int PRIMARY KEY, small smallint, big bigint, num numeric(12,3), "
                  "f float8, t text, b bytea, flag bool, d date, ts timestamptz, j jsonb, u uuid, arr int[], "
                  "nothing text)")
    values = (1, 7, 2**40, Decimal("12.345"), 0.5, "héllo 'q'", b"\x00\xff", True, date(2026, 12, 1),
              datetime(2026, 12, 1, 5, 6, 7, tzinfo=UTC), '{"k": [1, 2]}', UUID(int=5), [1, 2, 3], None)
    conn.execute("INSERT INTO kinds VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", values)
    results = repeat(conn, "SELECT * FROM kinds WHERE id = ? AND t = ?", (1, "héllo 'q'"))
    assert all(r == results[0] for r in results)
    assert results[0][0]["b"] == b"\x00\xff" and results[0][0]["j"] == {"k": [1, 2]}
    assert results[0][0]["arr"] == [1, 2, 3] and results[0][0]["nothing"] is None
    assert len(ours(conn)) == 1
    # values that dump to other types (int8 instead of int2) get a statement of their own, same answer
    assert conn.execute("SELECT * FROM kinds WHERE id = ? AND t = ?", (2**40, "x")).rows == []


def test_statements_run_fewer_times_than_the_threshold_are_never_prepared(conn: DatabaseConnection) -> None:
    for _ in range(4):
        conn.execute("SELECT %s::int AS v", (1,))
    assert ours(conn) == []


def test_prepare_threshold_none_turns_the_runner_off(dbkeeper_postgres_url: DatabaseURL) -> None:
    url = dataclasses.replace(dbkeeper_postgres_url, query=(("prepare_threshold", "none"),))
    with DatabaseConnection.from_url(url, record_queries=False) as conn:
        repeat(conn, "SELECT %s::int AS v", (1,))
        rows = conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").rows
        assert rows[0]["n"] == 0


def test_writes_errors_and_rowcounts_match_the_cursor(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE w (id int PRIMARY KEY, v text)")
    for i in range(RUNS):
        result = conn.execute("INSERT INTO w VALUES (?, ?)", (i, f"v{i}"))
        assert result.rows_affected == 1 and result.rows == []
    result = conn.execute("UPDATE w SET v = v || ? WHERE id < ?", ("!", 5))
    assert result.rows_affected == 5
    for _ in range(RUNS):
        with pytest.raises(IntegrityError, match="duplicate key"):
            conn.execute("INSERT INTO w VALUES (?, ?)", (0, "again"))
        with pytest.raises(QueryError, match="division by zero") as info:
            conn.execute("SELECT 1 / %s AS x", (0,))
        assert info.value.sqlstate == "22012"
    returned = [conn.execute("UPDATE w SET v = ? WHERE id = ? RETURNING id, v", ("r", 3)).rows for _ in range(RUNS)]
    assert all(r == [{"id": 3, "v": "r"}] for r in returned)
    assert conn.execute("SELECT count(*) AS n FROM w").rows == [{"n": RUNS}]
    assert len(ours(conn)) >= 3


def test_a_wrong_number_of_values_is_psycopgs_error_every_time(conn: DatabaseConnection) -> None:
    for _ in range(RUNS):
        with pytest.raises(QueryError, match="placeholders"):
            conn.execute("SELECT %s::int AS a, %s::int AS b", (1,))
        with pytest.raises(QueryError, match="placeholders"):
            conn.execute("SELECT 1 AS a", (1,))
    assert ours(conn) == []
    assert conn.reconnects == 0  # a server-side bind error (SQLSTATE 08P01) would read as a lost connection


def test_a_statement_the_server_cannot_prepare_is_left_to_the_cursor(conn: DatabaseConnection) -> None:
    for _ in range(RUNS):
        with pytest.raises(QueryError, match="does not exist"):
            conn.execute("SELECT * FROM missing_table WHERE id = %s", (1,))
    assert conn.execute("SELECT 1 AS one").rows == [{"one": 1}]  # the session is fine


def test_a_transaction_opened_by_hand_is_never_prepared_into(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE tx (id int PRIMARY KEY)")
    with conn.transaction() as tx:
        for i in range(RUNS):
            tx.execute("INSERT INTO tx VALUES (?)", (i,))
        with pytest.raises(QueryError):
            tx.execute("SELECT * FROM missing_table WHERE id = %s", (1,))
    assert conn.execute("SELECT count(*) AS n FROM tx").rows == [{"n": 0}]  # rolled back as a whole
    assert ours(conn) == []
    conn.execute("BEGIN")  # by hand, through execute: the runner sees the open block and keeps out
    for i in range(RUNS):
        conn.execute("INSERT INTO tx VALUES (?)", (i,))
    assert ours(conn) == []
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) AS n FROM tx").rows == [{"n": 0}]


def test_discard_all_and_a_changed_table_are_survived(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE d (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO d VALUES (1, 'one')")
    assert repeat(conn, "SELECT * FROM d WHERE id = ?", (1,))[-1] == [{"id": 1, "v": "one"}]
    assert ours(conn)
    conn.execute("DISCARD ALL")
    assert ours(conn) == []
    assert repeat(conn, "SELECT * FROM d WHERE id = ?", (1,), runs=3) == [[{"id": 1, "v": "one"}]] * 3
    assert ours(conn)
    conn.execute("ALTER TABLE d ADD COLUMN extra int DEFAULT 7")
    assert repeat(conn, "SELECT * FROM d WHERE id = ?", (1,), runs=3) == [[{"id": 1, "v": "one", "extra": 7}]] * 3


def test_a_changed_client_encoding_is_followed(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE words (w text)")
    conn.execute("INSERT INTO words VALUES (%s)", ("café ü",))
    sql = "SELECT w, length(w) AS n FROM words WHERE w = %s"
    assert repeat(conn, sql, ("café ü",))[-1] == [{"w": "café ü", "n": 6}]
    conn.execute("SET client_encoding = 'LATIN1'")
    assert repeat(conn, sql, ("café ü",)) == [[{"w": "café ü", "n": 6}]] * RUNS
    conn.execute("SET client_encoding = 'UTF8'")
    assert repeat(conn, sql, ("café ü",)) == [[{"w": "café ü", "n": 6}]] * RUNS


def test_ctrl_c_cancels_a_long_prepared_statement_and_the_connection_stays_usable(conn: DatabaseConnection) -> None:
    repeat(conn, "SELECT pg_sleep(%s) AS slept", (0,))
    assert ours(conn)
    main = threading.get_ident()
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            conn.execute("SELECT pg_sleep(%s) AS slept", (30,))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    assert conn.execute("SELECT %s::int AS v", (42,)).rows == [{"v": 42}]
    active = conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep($1)%%' "
                          "AND state = 'active'").rows
    assert active == [{"n": 0}]


def test_a_terminated_session_is_reconnected_for_a_prepared_read(conn: DatabaseConnection,
                                                                 dbkeeper_postgres_url: DatabaseURL) -> None:
    repeat(conn, "SELECT %s::int AS v", (1,))
    pid = conn.execute("SELECT pg_backend_pid() AS pid").rows[0]["pid"]
    with DatabaseConnection.from_url(dbkeeper_postgres_url, record_queries=False) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert conn.execute("SELECT %s::int AS v", (5,)).rows == [{"v": 5}]
    assert conn.execute("SELECT pg_backend_pid() AS pid").rows[0]["pid"] != pid


def test_threads_sharing_the_pool_each_get_their_own_statements(conn: DatabaseConnection) -> None:
    conn.execute("CREATE TABLE shared (id int PRIMARY KEY, v text)")
    conn.bulk_insert("shared", [(i, f"v{i}") for i in range(100)], ["id", "v"])
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(60):
                key = (offset * 7 + i) % 100
                assert conn.execute("SELECT v FROM shared WHERE id = ?", (key,)).rows == [{"v": f"v{key}"}]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
