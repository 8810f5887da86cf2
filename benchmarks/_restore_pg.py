"""PostgreSQL restores, whole command, side by side with the native tools (used by ``bench_backup.py``).

Each round runs, in turn, after a ``CHECKPOINT`` and into a database that
exists before the clock starts:

* ``pg_restore``: ``pg_restore -d NEW dump.Fc`` into a fresh empty database
  (the reference every ratio is against);
* ``zstd -dc | psql``: a plain-format dump (``pg_dump -Fp | zstd``) into a fresh
  empty database, the other native way;
* ``dbkeeper (empty)``: the subprocess ``dbkeeper backup restore ID --to NEW``
  into a fresh empty database (one ``pg_restore --single-transaction``);
* ``dbkeeper --replace``: the subprocess ``dbkeeper backup restore ID --to OLD
  --replace`` over a database holding the data: the atomic path (scratch
  copy, renames in one transaction, old copy dropped), what the issue measures.

Whole commands, interpreter start-up and imports included, are what a user
waits for during an outage. Rounds alternate the four; the median and the
minimum of each are printed, and the ratios (median over median) are recorded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import server_url, unique_name
from dbkeeper.urls import DatabaseURL

ROUNDS = 3


def _admin_sql(*statements: str) -> None:
    with DatabaseConnection.from_url(server_url("postgres").with_database("postgres"), name="bench-admin") as admin:
        for sql in statements:
            admin.execute(sql)


def _timed(argv: list[str] | str, env: dict[str, str], *, shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(argv, shell=shell, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def restore_side_by_side(source: DatabaseURL, workspace: Path, backup_id: str, tmp: Path,
                         record: Callable[[str, float, float, float], None]) -> None:
    """Time the four restores of ``source``'s data (see the module doc) and record the ratios."""
    env = {**os.environ, "PGHOST": source.host or "localhost", "PGPORT": str(source.port or 5432),
           "PGUSER": source.username or ""}
    custom, plain = tmp / "restore.Fc", tmp / "restore.sql.zst"
    subprocess.run(["pg_dump", "-Fc", "-f", str(custom), "-d", source.database or ""], check=True, env=env)
    subprocess.run(f"pg_dump -Fp -d '{source.database}' | zstd -q -3 -T0 -o '{plain}'", shell=True, check=True,
                   env=env)
    replaced = unique_name("dbk_bench_old")
    _admin_sql(f'CREATE DATABASE "{replaced}"')
    base = [sys.executable, "-m", "dbkeeper.cli", "backup", "restore", backup_id, "--workspace", str(workspace)]
    old_url = str(source.with_database(replaced))
    subprocess.run([*base, "--to", old_url], check=True, env=env, stdout=subprocess.DEVNULL)  # now holds the data
    times: dict[str, list[float]] = {"pg_restore": [], "zstd -dc | psql": [], "dbkeeper (empty)": [],
                                     "dbkeeper --replace": []}
    try:
        for _ in range(ROUNDS):
            for side, values in times.items():
                fresh = unique_name("dbk_bench_new")
                _admin_sql("CHECKPOINT", *([] if side == "dbkeeper --replace" else [f'CREATE DATABASE "{fresh}"']))
                try:
                    if side == "pg_restore":
                        elapsed = _timed(["pg_restore", "-d", fresh, str(custom)], env)
                    elif side == "zstd -dc | psql":
                        elapsed = _timed(f"zstd -dc '{plain}' | psql -q -X -v ON_ERROR_STOP=1 -d '{fresh}'", env,
                                         shell=True)
                    elif side == "dbkeeper (empty)":
                        elapsed = _timed([*base, "--to", str(source.with_database(fresh))], env)
                    else:
                        elapsed = _timed([*base, "--to", old_url, "--replace"], env)
                    values.append(elapsed)
                finally:
                    _admin_sql(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{replaced}" WITH (FORCE)')
    for side, values in times.items():
        print(f"  restore {side:<20} median {statistics.median(values):6.2f} s  min {min(values):6.2f} s  "
              f"({', '.join(f'{v:.2f}' for v in values)})", flush=True)
    reference = statistics.median(times["pg_restore"])
    record("postgres restore --replace (whole cmd) / pg_restore", statistics.median(times["dbkeeper --replace"]),
           reference, 1.0)
    record("postgres restore empty (whole cmd) / pg_restore", statistics.median(times["dbkeeper (empty)"]),
           reference, 1.0)
    record("zstd -dc | psql / pg_restore (reference)", statistics.median(times["zstd -dc | psql"]), reference,
           float("inf"))


def main() -> None:
    """``python benchmarks/_restore_pg.py SOURCE_URL WORKSPACE BACKUP_ID``: only this comparison, on a backup made."""
    import tempfile

    def show(name: str, ours: float, theirs: float, limit: float) -> None:
        print(f"  {name:<52} {ours / theirs:5.2f}x (target <= {limit})", flush=True)

    source, workspace, backup_id = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="dbkeeper-bench-") as tmp:
        restore_side_by_side(DatabaseURL.parse(source), Path(workspace), backup_id, Path(tmp), show)


if __name__ == "__main__":
    main()
