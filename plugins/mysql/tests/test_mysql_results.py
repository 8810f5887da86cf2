"""Column definitions parsed once per connection (``dbkeeper_mysql._results``), against a real server.

Every test runs the same statements on a stock ``pymysql.Connection`` and
on ours, several times (the first run parses, later runs reuse), and
compares rows and ``description`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.cursors
import pytest

from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql import _results
from dbkeeper_mysql._results import Connection

pytestmark = pytest.mark.mysql


def _kwargs(url: DatabaseURL) -> dict[str, Any]:
    return {"host": url.host, "port": url.port or 3306, "user": url.username, "password": url.password or "",
            "database": url.database, "autocommit": True}


@pytest.fixture
def pair(dbkeeper_mysql_url: DatabaseURL) -> Iterator[tuple[Any, Connection]]:
    stock = pymysql.connect(**_kwargs(dbkeeper_mysql_url))
    ours = Connection(**_kwargs(dbkeeper_mysql_url))
    try:
        yield stock, ours
    finally:
        stock.close()
        ours.close()


def run(conn: Any, sql: str, params: Any = None, cursor: type = pymysql.cursors.Cursor) -> tuple[Any, Any]:
    with conn.cursor(cursor) as c:
        c.execute(sql, params)
        return c.fetchall(), c.description


def same(pair: tuple[Any, Connection], sql: str, params: Any = None, runs: int = 3) -> Any:
    stock, ours = pair
    expected = run(stock, sql, params)
    for _ in range(runs):
        assert run(ours, sql, params) == expected
    return expected


def test_every_kind_of_column_reads_as_stock_pymysql_reads_it(pair: tuple[Any, Connection]) -> None:
    stock, ours = pair
    with stock.cursor() as c:
        c.execute("CREATE TABLE kinds (id INT PRIMARY KEY, small TINYINT, big BIGINT UNSIGNED, num DECIMAL(12,3), "
                  "f DOUBLE, t VARCHAR(40) COLLATE utf8mb4_bin, ci TEXT, b VARBINARY(8), blo BLOB, flag BIT(3), "
                  "d DATE, dt DATETIME(3), tm TIME, j JSON, e ENUM('x','y'), s SET('a','b'), nothing INT)")
        c.execute("INSERT INTO kinds VALUES (1, -5, 18446744073709551615, 12.345, 0.5, 'héllo', 'text ü', "
                  "x'00ff', x'0102', b'101', '2026-12-01', '2026-12-01 05:06:07.123', '-12:30:00', "
                  "'{\"k\": [1, 2]}', 'y', 'a,b', NULL)")
    rows, _ = same(pair, "SELECT * FROM kinds WHERE id = %s", (1,))
    assert rows[0][7] == b"\x00\xff" and rows[0][16] is None
    same(pair, "SELECT id, t AS renamed, num * 2 AS doubled FROM kinds")
    same(pair, "SHOW COLUMNS FROM kinds")
    rows, _ = run(ours, "SELECT * FROM kinds", cursor=pymysql.cursors.DictCursor)
    assert rows[0]["t"] == "héllo"
    # one per distinct set of definitions, reused on repeat (the DictCursor's SELECT * is the first one's)
    assert len(ours.dbkeeper_descriptions) == 3


def test_a_changed_table_gets_fresh_definitions(pair: tuple[Any, Connection]) -> None:
    stock = pair[0]
    run(stock, "CREATE TABLE c (id INT PRIMARY KEY, v VARCHAR(10))")
    run(stock, "INSERT INTO c VALUES (1, 'one')")
    assert same(pair, "SELECT * FROM c")[1][1][0] == "v"
    run(stock, "ALTER TABLE c MODIFY v VARBINARY(20), ADD COLUMN w DATE")
    rows, description = same(pair, "SELECT * FROM c")
    assert [d[0] for d in description] == ["id", "v", "w"]
    assert rows == ((1, b"one", None),)  # the new definition's converter: bytes now, not str


def test_another_encoding_is_another_key(pair: tuple[Any, Connection]) -> None:
    ours = pair[1]
    for conn in pair:
        conn.set_character_set("latin1")
    same(pair, "SELECT 'caf\u00e9' AS word, 1 AS n")
    for conn in pair:
        conn.set_character_set("utf8mb4")
    same(pair, "SELECT 'caf\u00e9' AS word, 1 AS n")
    assert {key[0] for key in ours.dbkeeper_descriptions} == {"cp1252", "utf8"}  # PyMySQL's codec names


def test_errors_unbuffered_results_and_the_bound_are_unchanged(pair: tuple[Any, Connection],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ours = pair[1]
    for conn in pair:
        with pytest.raises(pymysql.err.ProgrammingError) as info:
            run(conn, "SELECT * FROM no_such_table")
        assert info.value.args[0] == 1146
    streamed = [run(conn, "SELECT seq, seq * 2 AS twice FROM seq_1_to_500", cursor=pymysql.cursors.SSCursor)
                for conn in pair]
    assert streamed[0] == streamed[1] and len(streamed[1][0]) == 500
    monkeypatch.setattr(_results, "MAX_DESCRIPTIONS", 8)
    for i in range(20):
        same(pair, f"SELECT {i} AS c{i}", runs=1)
        assert len(ours.dbkeeper_descriptions) <= 8
