"""CRUD helpers against raw ``execute``, and read-cache hits against misses.

Run: python benchmarks/bench_crud.py [--quick] [--dialects sqlite,postgres,mysql]

- ``manager.get(table, id=...)`` against ``manager.execute`` of the same
  one-row primary-key SELECT (the statement a user would write by hand):
  target at most 1.3x. ``get`` keeps its finished SQL per (table, key
  columns), so it adds a dict lookup and a few attribute reads.
- a read-cache hit against a miss of the same ``get`` with the cache on (a
  miss queries the database and stores the row; a hit is a dict lookup and a
  row copy): target at least 20x faster on PostgreSQL (reported elsewhere
  too; SQLite's in-process queries are too cheap for a 20x gap to matter).

Timings are medians of interleaved rounds; the exit status is 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tempfile

from _common import Row, interleaved, print_rows, server_database

from dbkeeper import DatabaseManager
from dbkeeper.crud.read_cache import QueryCache
from dbkeeper.urls import DatabaseURL

CREATE = "CREATE TABLE bench (id INTEGER PRIMARY KEY, name VARCHAR(64), price DOUBLE PRECISION, note VARCHAR(64))"
ROWS = 2000
GET_TARGET = 1.3
CACHE_TARGET = 20.0


def load(manager: DatabaseManager) -> None:
    manager.execute(CREATE)
    manager.insert_many("bench", [{"id": i, "name": f"name-{i}", "price": i * 0.25,
                                   "note": None if i % 5 else f"note {i}"} for i in range(ROWS)])


def bench_get(label: str, url: DatabaseURL, iterations: int) -> Row:
    """``get`` vs ``execute`` of the same SELECT, cache off."""
    manager = DatabaseManager(url, pool_size=2)
    try:
        load(manager)
        keys = [i % ROWS for i in range(iterations)]
        sql = "SELECT * FROM bench WHERE id = ?"
        assert manager.get("bench", id=7) == manager.execute(sql, (7,)).first()

        def by_get() -> None:
            get = manager.get
            for key in keys:
                get("bench", id=key)

        def by_execute() -> None:
            execute = manager.execute
            for key in keys:
                execute(sql, (key,)).first()

        ours, theirs = interleaved(by_get, by_execute, rounds=15)
        ratio = ours / theirs
        return Row(f"{label}: get vs execute (x{iterations})", ours, theirs, f"<= {GET_TARGET}x",
                   ratio <= GET_TARGET)
    finally:
        manager.close_pool()


def bench_cache(label: str, url: DatabaseURL, iterations: int, *, enforce: bool) -> Row:
    """A cache hit vs a cache miss of the same ``get`` (misses: first reads of distinct keys)."""
    count = min(iterations, ROWS)
    manager = DatabaseManager(url, pool_size=2, cache=QueryCache(max_entries=count + 10, ttl=600))
    try:
        load(manager)
        keys = list(range(count))
        misses: list[float] = []
        hits: list[float] = []

        def miss_round() -> None:
            assert manager.cache is not None
            manager.cache.clear()
            get = manager.get
            for key in keys:
                get("bench", id=key)

        def hit_round() -> None:
            get = manager.get
            for key in keys:
                get("bench", id=key)

        miss_time, hit_time = interleaved(miss_round, hit_round)
        misses.append(miss_time)
        hits.append(hit_time)
        stats = manager.get_database_stats()["cache"]
        assert stats["hits"] >= count, stats
        assert stats["misses"] >= count, stats
        speedup = miss_time / hit_time
        target = f">= {CACHE_TARGET:g}x faster" if enforce else "(reported)"
        # Row.ratio is ours/theirs: report hit/miss, so a 20x speed-up reads as 0.05x.
        return Row(f"{label}: cache hit vs miss (x{count}, {speedup:.1f}x faster)", hit_time, miss_time, target,
                   speedup >= CACHE_TARGET or not enforce)
    finally:
        manager.close_pool()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--dialects", default="sqlite,postgres,mysql")
    args = parser.parse_args()
    iterations = 500 if args.quick else 5000
    wanted = args.dialects.split(",")
    rows: list[Row] = []
    if "sqlite" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            url = DatabaseURL(scheme="sqlite", database=str(Path(tmp) / "bench.db"))
            rows.append(bench_get("sqlite", url, iterations))
        with tempfile.TemporaryDirectory() as tmp:
            url = DatabaseURL(scheme="sqlite", database=str(Path(tmp) / "bench.db"))
            rows.append(bench_cache("sqlite", url, iterations, enforce=False))
    for kind in ("postgres", "mysql"):
        if kind not in wanted:
            continue
        with server_database(kind) as url:
            if url is not None:
                rows.append(bench_get(kind, url, iterations))
        with server_database(kind) as url:
            if url is not None:
                rows.append(bench_cache(kind, url, iterations, enforce=kind == "postgres"))
    print_rows(rows)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
