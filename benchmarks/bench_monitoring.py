"""Cost of the query recorder on the hot path: execute with and without recording.

Run: python benchmarks/bench_monitoring.py [--quick]

The same connection runs a one-row primary-key SELECT in alternating rounds
with the recorder attached and detached; the ratio must stay within 1.05x
(the issue's limit: recording may cost at most 5% of execute time). SQLite
is the hardest case because its statements are the fastest; PostgreSQL and
MySQL run when their test servers answer.

Each recorded round ends with a flush of what it recorded into the store
(in a temporary workspace), and the periodic flusher waits a day, so the flush
-- fingerprints and the SQLite write, most of the cost -- is charged to the
side that caused it. (Until 2026-12-01 the flusher ran on its own clock and
landed in recorded and bare rounds alike, which hid most of it.)

Best of 41 short rounds each: on a shared two-CPU machine, nine rounds of
20,000 statements scattered by more than the 5% being measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, interleaved, print_rows, server_database

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

TARGET = 1.05


def measure(label: str, url: DatabaseURL, statements: int, rounds: int) -> Row:
    conn = DatabaseConnection.from_url(url, name=f"bench-{label}").connect()
    try:
        conn.execute("DROP TABLE IF EXISTS bench_monitoring")
        conn.execute("CREATE TABLE bench_monitoring (id INTEGER PRIMARY KEY, name VARCHAR(32))")
        conn.bulk_insert("bench_monitoring", [(i, f"n{i}") for i in range(1000)], ["id", "name"])
        sink = conn._sink
        assert sink is not None, "recording is off: unset DBKEEPER_MONITORING"
        from dbkeeper.monitoring.recorder import get_recorder

        recorder = get_recorder()

        def run() -> None:
            for i in range(statements):
                conn.execute("SELECT id, name FROM bench_monitoring WHERE id = ?", (i % 1000,))

        def recorded() -> None:
            conn._sink = sink
            run()
            recorder.flush()

        def bare() -> None:
            conn._sink = None
            run()

        run()  # warm up caches, the pool and the fingerprint cache
        recorder.flush()
        ours, theirs = interleaved(recorded, bare, rounds=rounds)
        conn._sink = sink
        conn.execute("DROP TABLE bench_monitoring")
    finally:
        conn.disconnect()
    ratio = ours / theirs
    return Row(f"execute x{statements}, recording on vs off ({label})", ours, theirs, f"<= {TARGET}x",
               ratio <= TARGET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer statements and rounds")
    args = parser.parse_args()
    statements, rounds = (2_000, 5) if args.quick else (5_000, 41)
    os.environ.pop("DBKEEPER_MONITORING", None)
    os.environ["DBKEEPER_MONITORING_FLUSH_INTERVAL"] = "86400"  # no periodic flush: each round flushes its own
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dbk-bench-mon-") as tmp:
        os.environ["DBKEEPER_WORKSPACE"] = str(Path(tmp) / "workspace")
        rows.append(measure("sqlite", DatabaseURL(scheme="sqlite", database=str(Path(tmp) / "bench.db")),
                            statements, rounds))
        for kind in ("postgres", "mysql"):
            with server_database(kind) as url:
                if url is not None:
                    # a server round trip is ~25x a SQLite read: fewer, longer rounds average out its scheduling
                    rows.append(measure(kind, url, statements, max(5, rounds // 4)))
    print_rows(rows)
    if not all(r.ok for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
