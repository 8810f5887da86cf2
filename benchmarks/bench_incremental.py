"""Incremental backups and parallel export, measured.

For each dialect, on one table of ``--rows`` rows (default 1,000,000, the
same mixed-type table as ``bench_backup.py``):

* a full backup (zstd), taken the default way (the dialect's default full:
  where that is not chainable, the first incremental becomes the chain's
  full and says so, and the numbers show it), then
* an incremental after appending 1 % new rows, and
* an incremental after updating 1 % of the rows in one key range;

each incremental's archive size and time against the full's (targets: at
most 3 % of the size, 30 % of the time). For PostgreSQL and MySQL/MariaDB
also a full backup of the single large table with 1 worker against 2
workers (target: 2 workers at least 1.5x faster; the table is cut into key
ranges read by sessions sharing one snapshot). Every number is one run on a
shared machine. MySQL/MariaDB incrementals read the binary log to find the
key ranges that changed, so that section runs on a server with a row-based
binary log (a private one when the shared server has none).

Usage: ``python benchmarks/bench_incremental.py [--rows N] [--only postgres,mysql,sqlite]``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_backup import fill  # the same table as the full-backup benchmark

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.private_servers import MARIADB_BINLOG_OPTIONS, MARIADB_OPTIONS, private_mariadb
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

RESULTS: list[tuple[str, float, str, bool]] = []


def record(name: str, value: float, target: str, ok: bool) -> None:
    RESULTS.append((name, value, target, ok))
    print(f"  {name:<58} {value:8.3f}  (target {target}) {'ok' if ok else 'MISSED'}", flush=True)


def append_sql(kind: str, n: int) -> str:
    new = n // 100
    if kind == "postgres":
        return (f"INSERT INTO bench SELECT g, 'customer ' || g, (g % 100000) / 100.0, random() * 1000, g % 2 = 0, "
                f"now(), md5(g::text) || ' ' || md5((g * 7)::text), decode(md5((g * 3)::text), 'hex') "
                f"FROM generate_series({n + 1}, {n + new}) g")
    if kind == "mysql":
        return (f"INSERT INTO bench SELECT seq, concat('customer ', seq), (seq % 100000) / 100.0, rand() * 1000, "
                f"seq % 2 = 0, now(), concat(md5(seq), ' ', md5(seq * 7)), unhex(md5(seq * 3)) "
                f"FROM seq_{n + 1}_to_{n + new}")
    return (f"WITH RECURSIVE g(x) AS (SELECT {n + 1} UNION ALL SELECT x + 1 FROM g WHERE x < {n + new}) "
            "INSERT INTO bench SELECT x, 'customer ' || x, 1.0, 2.0, 1, datetime('now'), hex(randomblob(16)), "
            "randomblob(16) FROM g")


def update_sql(kind: str, n: int) -> str:
    low = n // 2
    high = low + n // 100 - 1
    if kind == "mysql":
        return f"UPDATE bench SET note = concat(note, ' updated'), score = score + 1 WHERE id BETWEEN {low} AND {high}"
    return f"UPDATE bench SET note = note || ' updated', score = score + 1 WHERE id BETWEEN {low} AND {high}"


def backup(manager: BackupManager, kind: str, workers: int | None = None,
           chainable: bool | None = None) -> tuple[float, int, str]:
    """One backup, the default way unless ``chainable`` is given (``None``: the dialect's default full)."""
    start = time.perf_counter()
    result = manager.create_backup("bench", backup_type=kind, compression="zstd", workers=workers,
                                   chainable=chainable)
    elapsed = time.perf_counter() - start
    assert result.success, result.error_message
    for warning in result.warnings:  # e.g. an incremental whose base was not chainable became a full
        print(f"  warning ({kind}): {warning}", flush=True)
    size = int(manager.get_backup(result.backup_id).metadata["size_bytes"])
    return elapsed, size, result.backup_id


def run(url: DatabaseURL, kind: str, n: int, ws: Path) -> None:
    manager = BackupManager(ws, url)
    full_time, full_size, _ = backup(manager, "full")
    print(f"  full: {full_size / (1 << 20):.1f} MB in {full_time:.2f} s", flush=True)
    for label, sql in (("append 1 %", append_sql(kind, n)), ("update 1 % in one key range", update_sql(kind, n))):
        with DatabaseConnection.from_url(url) as conn:
            conn.execute(sql)
        inc_time, inc_size, _ = backup(manager, "incremental")
        print(f"  incremental after {label}: {inc_size / (1 << 20):.2f} MB in {inc_time:.2f} s", flush=True)
        record(f"{kind}: incremental ({label}) size / full", inc_size / full_size, "<= 0.03",
               inc_size <= 0.03 * full_size)
        record(f"{kind}: incremental ({label}) time / full", inc_time / full_time, "<= 0.30",
               inc_time <= 0.30 * full_time)
    if kind in ("postgres", "mysql"):
        # The parallel export is the chainable dump's (key ranges read by sessions sharing one snapshot), so
        # these two ask for it: PostgreSQL's default full is pg_dump, whose workers only compress.
        one, _, _ = backup(manager, "full", workers=1, chainable=True)
        two, _, _ = backup(manager, "full", workers=2, chainable=True)
        print(f"  full with 1 worker {one:.2f} s, with 2 workers {two:.2f} s", flush=True)
        record(f"{kind}: single table, 1 worker / 2 workers", one / two, ">= 1.5", one / two >= 1.5)


@contextlib.contextmanager
def server(kind: str) -> Iterator[DatabaseURL]:
    """The shared server; for MySQL/MariaDB one with a row-based binary log, which incrementals read.

    When the shared MariaDB logs nothing (its default), a private one with
    ``log_bin`` and ``binlog_format=ROW`` and the shared server's 128 MB
    buffer pool is started for the run and removed afterwards.
    """
    url = server_url(kind)
    if kind == "mysql":
        with DatabaseConnection.from_url(url) as conn:
            logging = int(conn.execute("SELECT @@log_bin AS b").rows[0]["b"])
        if not logging:
            options = (*MARIADB_OPTIONS, *MARIADB_BINLOG_OPTIONS, "--innodb-buffer-pool-size=128M")
            with private_mariadb(options=options) as private:
                print(f"  (a private MariaDB with {' '.join(MARIADB_BINLOG_OPTIONS)}: the shared one logs nothing)",
                      flush=True)
                yield private.url
                return
    yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="postgres,mysql,sqlite")
    args = parser.parse_args()
    kinds = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="dbkeeper-bench-inc-") as tmp_name:
        tmp = Path(tmp_name)
        for kind in ("postgres", "mysql", "sqlite"):
            if kind not in kinds:
                continue
            print({"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}[kind], flush=True)
            if kind == "sqlite":
                url = DatabaseURL(scheme="sqlite", database=str(tmp / "bench.db"))
                fill(url, kind, args.rows)
                run(url, kind, args.rows, tmp / "ws-sqlite")
                continue
            with server(kind) as admin, scratch_database(admin, prefix="dbk_bench") as url:
                fill(url, kind, args.rows)
                run(url, kind, args.rows, tmp / f"ws-{kind}")
    missed = [r for r in RESULTS if not r[3]]
    print(f"{len(RESULTS) - len(missed)}/{len(RESULTS)} targets met", flush=True)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
