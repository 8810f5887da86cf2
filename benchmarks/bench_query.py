"""Query hot path, bulk loads and CLI start-up, side by side with the raw drivers.

Run: python benchmarks/bench_query.py [--quick]

- DatabaseManager.execute of a one-row primary-key SELECT (pool checkout
  included) against the raw driver on a held connection: targets 1.15x on
  PostgreSQL and MySQL, 3x on a SQLite file.
- bulk_insert of 100,000 rows against psycopg executemany (at least 5x faster),
  PyMySQL executemany and sqlite3 executemany (no slower).
- `dbkeeper --help` within 0.25 s and `dbkeeper plugins` within 0.5 s (wall).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, interleaved, print_rows, server_database

from dbkeeper import DatabaseManager
from dbkeeper.urls import DatabaseURL

CREATE = "CREATE TABLE bench (id INTEGER PRIMARY KEY, name VARCHAR(64), price DOUBLE PRECISION, note VARCHAR(64))"


def rows_for(n: int) -> list[tuple[int, str, float, str | None]]:
    return [(i, f"name-{i}", i * 0.25, None if i % 5 else f"note {i}") for i in range(n)]


def raw_connect(url: DatabaseURL):  # type: ignore[no-untyped-def]
    if url.scheme == "sqlite":
        return sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
    if url.scheme.startswith("postgres"):
        import psycopg

        return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                               dbname=url.database, autocommit=True)
    import pymysql

    return pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                           database=url.database, autocommit=True)


def bench_select(label: str, url: DatabaseURL, iterations: int, target: float) -> Row:
    manager = DatabaseManager(url, pool_size=2)
    manager.execute(CREATE)
    manager.bulk_insert("bench", rows_for(1000), ["id", "name", "price", "note"])
    raw = raw_connect(url)
    mark = "?" if url.scheme == "sqlite" else "%s"
    raw_sql = f"SELECT id, name, price, note FROM bench WHERE id = {mark}"
    ours_sql = "SELECT id, name, price, note FROM bench WHERE id = ?"

    def with_raw() -> None:
        cursor = raw.cursor()
        for i in range(iterations):
            cursor.execute(raw_sql, (i % 1000,))
            cursor.fetchall()
        cursor.close()

    def with_dbkeeper() -> None:
        execute = manager.execute
        for i in range(iterations):
            execute(ours_sql, (i % 1000,))

    with_raw()
    with_dbkeeper()
    ours, theirs = interleaved(with_dbkeeper, with_raw)
    raw.close()
    manager.disconnect_all()
    return Row(f"{label}: execute one-row SELECT x{iterations}", ours, theirs, f"<= {target}x",
               ours / theirs <= target)


def bench_bulk(label: str, url: DatabaseURL, count: int, target: float, *, faster_by: bool) -> Row:
    data = rows_for(count)
    manager = DatabaseManager(url, pool_size=2)
    raw = raw_connect(url)
    mark = "?" if url.scheme == "sqlite" else "%s"

    def reset() -> None:
        manager.execute("DROP TABLE IF EXISTS bench")
        manager.execute(CREATE)

    def with_dbkeeper() -> float:
        reset()
        start = time.perf_counter()
        manager.bulk_insert("bench", data, ["id", "name", "price", "note"])
        return time.perf_counter() - start

    def with_raw() -> float:
        reset()
        start = time.perf_counter()
        cursor = raw.cursor()
        if url.scheme == "sqlite" or url.scheme.startswith("postgres"):
            cursor.execute("BEGIN")
        else:
            cursor.execute("START TRANSACTION")
        cursor.executemany(f"INSERT INTO bench (id, name, price, note) VALUES ({mark}, {mark}, {mark}, {mark})",
                           data)
        cursor.execute("COMMIT")
        cursor.close()
        return time.perf_counter() - start

    ours_times, theirs_times = [], []
    for _ in range(3):
        ours_times.append(with_dbkeeper())
        theirs_times.append(with_raw())
    ours, theirs = min(ours_times), min(theirs_times)  # best of 3, as interleaved() (see there)
    raw.close()
    manager.disconnect_all()
    if faster_by:
        return Row(f"{label}: bulk_insert {count:,} rows vs executemany", ours, theirs,
                   f"<= {1 / target:.2f}x (>= {target:g}x faster)", ours * target <= theirs)
    return Row(f"{label}: bulk_insert {count:,} rows vs executemany", ours, theirs, f"<= {target}x",
               ours <= theirs * target)


def bench_cli() -> list[Row]:
    script = shutil.which("dbkeeper", path=str(Path(sys.executable).parent)) or "dbkeeper"
    # As a user runs it: bytecode caches written (a shell with PYTHONDONTWRITEBYTECODE=1
    # would otherwise recompile every module on every start), no dbkeeper settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBKEEPER") and k != "PYTHONDONTWRITEBYTECODE"}
    python = [sys.executable, "-c", "pass"]

    def wall(cmd: list[str]) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env=env, check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bare = wall(python)
    help_time = wall([script, "--help"])
    plugins_time = wall([script, "plugins"])
    return [
        Row("CLI: dbkeeper --help (vs bare python start-up)", help_time, bare, "<= 0.25 s wall",
            help_time <= 0.25),
        Row("CLI: dbkeeper plugins (vs bare python start-up)", plugins_time, bare, "<= 0.5 s wall",
            plugins_time <= 0.5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rows")
    args = parser.parse_args()
    iterations = 2000 if args.quick else 10000
    bulk_rows = 20_000 if args.quick else 100_000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = DatabaseURL(scheme="sqlite", database=str(Path(tmp) / "bench.db"))
        rows.append(bench_select("sqlite", url, iterations, 3.0))
        rows.append(bench_bulk("sqlite", url, bulk_rows, 1.0, faster_by=False))
    with server_database("postgres") as pg:
        if pg is not None:
            rows.append(bench_select("postgres", pg, iterations // 2, 1.15))
            rows.append(bench_bulk("postgres", pg, bulk_rows, 5.0, faster_by=True))
    with server_database("mysql") as my:
        if my is not None:
            rows.append(bench_select("mysql", my, iterations // 2, 1.15))
            rows.append(bench_bulk("mysql", my, bulk_rows, 1.0, faster_by=False))
    rows.extend(bench_cli())
    print_rows(rows)


if __name__ == "__main__":
    main()
