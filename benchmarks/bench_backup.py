"""Backups side by side with pg_dump/pg_restore, mysqldump/mysql and sqlite3 .backup + zstd.

Generates one table of ``--rows`` rows of mixed types (default 1,000,000:
about 250 MB of dump) per dialect, then times, in one run:

* PostgreSQL: ``create_backup`` (zstd) vs ``pg_dump -Fc`` (time and size);
  ``restore_backup`` vs ``pg_restore`` of that file; then whole commands
  (``dbkeeper backup restore`` subprocesses, into an empty database and
  ``--replace`` over the data) against ``pg_restore`` and ``zstd -dc | psql``
  (see ``benchmarks/_restore_pg.py``); and the default full, as
  ``dbkeeper backup create`` (whole command, a subprocess) and as the
  library call, against ``pg_dump | zstd -T0`` in alternating pairs (time
  and size; the median of the pair-by-pair ratios).
* MySQL/MariaDB: ``create_backup`` (zstd) vs ``mysqldump | gzip -6``;
  ``restore_backup`` and the whole ``dbkeeper backup restore --replace``
  command vs ``mariadb < dump.sql`` (:func:`bench_mysql_restore`).
* SQLite: ``create_backup`` (zstd) vs ``sqlite3 .backup`` followed by ``zstd -3 -T0``.
* Every full is taken the default way (no ``chainable`` argument), as the
  seed API's ``backup_database`` takes it.
* Encryption overhead on every dialect, and peak RSS of each backup and
  restore (each runs in a forked child, whose ``ru_maxrss`` is reported).

Server restores alternate with the other tool's for three rounds, each into
a fresh database after a checkpoint, and the best of each side counts: one
restore right after generating the table pays for that table's checkpoint.

Usage: ``python benchmarks/bench_backup.py [--rows N] [--only sqlite,postgres,mysql]``.
Needs the ``sqlite3`` and ``zstd`` command-line tools (Debian: ``apt-get install sqlite3 zstd``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbkeeper.backup import BackupManager, EncryptionSettings
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

KEY_ENV = "DBKEEPER_BENCH_KEY"
#: Alternating restore rounds per server dialect (each restores about 180 MB of dump).
RESTORE_ROUNDS = 3
#: Alternating rounds of ``pg_dump | zstd -T0`` against the default full (CLI and library call).
PIPELINE_ROUNDS = 3
RESULTS: list[tuple[str, float, float, str, bool]] = []


def _child(fn: Callable[[], Any], queue: Any) -> None:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measured(fn: Callable[[], Any]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of ``fn`` run in a forked child."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"benchmark step failed with exit code {proc.exitcode}")
    return result  # type: ignore[no-any-return]


def timed_shell(command: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def record(name: str, ours: float, theirs: float, limit: float, unit: str = "x") -> None:
    ratio = ours / theirs if theirs else float("inf")
    RESULTS.append((name, ours, theirs, f"<= {limit}{unit}", ratio <= limit))
    print(f"  {name:<48} ours {ours:9.2f}  theirs {theirs:9.2f}  ratio {ratio:5.2f} (target <= {limit}) "
          f"{'ok' if ratio <= limit else 'MISSED'}", flush=True)


def rows_sql(kind: str, n: int) -> list[str]:
    if kind == "postgres":
        return [
            "CREATE TABLE bench (id bigint PRIMARY KEY, name text, amount numeric(12,2), score double precision, "
            "flag boolean, created timestamptz, note text, payload bytea)",
            f"INSERT INTO bench SELECT g, 'customer ' || g, (g % 100000) / 100.0, random() * 1000, g % 2 = 0, "
            f"now() - (g || ' seconds')::interval, md5(g::text) || ' ' || md5((g * 7)::text), "
            f"decode(md5((g * 3)::text), 'hex') FROM generate_series(1, {n}) g",
        ]
    if kind == "mysql":
        return [
            "CREATE TABLE bench (id bigint PRIMARY KEY, name varchar(64), amount decimal(12,2), score double, "
            "flag boolean, created datetime, note varchar(200), payload varbinary(16))",
            f"INSERT INTO bench SELECT seq, concat('customer ', seq), (seq % 100000) / 100.0, rand() * 1000, "
            f"seq % 2 = 0, now() - interval seq second, concat(md5(seq), ' ', md5(seq * 7)), unhex(md5(seq * 3)) "
            f"FROM seq_1_to_{n}",
        ]
    return [
        "CREATE TABLE bench (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC, score REAL, flag INTEGER, "
        "created TEXT, note TEXT, payload BLOB)",
        f"WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n}) "
        "INSERT INTO bench SELECT x, 'customer ' || x, (x % 100000) / 100.0, abs(random() % 100000) / 100.0, "
        "x % 2, datetime('now', '-' || x || ' seconds'), hex(randomblob(16)) || ' ' || hex(randomblob(16)), "
        "randomblob(16) FROM g",
    ]


def fill(url: DatabaseURL, kind: str, n: int) -> None:
    start = time.perf_counter()
    with DatabaseConnection.from_url(url) as conn:
        for statement in rows_sql(kind, n):
            conn.execute(statement)
        if kind == "postgres":
            conn.execute("VACUUM ANALYZE bench")
    print(f"  generated {n:,} rows in {time.perf_counter() - start:.1f} s", flush=True)


def ours(url: DatabaseURL, ws: Path, kind: str, tmp: Path) -> dict[str, float]:
    """Backup (plain and encrypted) and restore through dbkeeper; returns times, sizes and peak RSS."""
    out: dict[str, float] = {}
    manager = BackupManager(ws, url)
    ids: list[str] = []

    def backup(enc: EncryptionSettings | None) -> Callable[[], None]:
        def run() -> None:
            result = manager.create_backup("bench", compression="zstd", encryption=enc)
            assert result.success, result.error_message
        return run

    # Plain and encrypted alternate, two runs each, best of each: the first run also warms the caches, and
    # one run of a side against the best of two of the other would count noise as encryption cost.
    plain, enc = [], []
    for _ in range(2):
        elapsed, rss = measured(backup(None))
        plain.append(elapsed)
        out["backup_rss"] = max(out.get("backup_rss", 0.0), rss)
        enc.append(measured(backup(EncryptionSettings(key_env=KEY_ENV)))[0])
    out["backup"], out["backup_enc"] = min(plain), min(enc)
    ids = [b.backup_id for b in manager.get_backups("bench")]
    out["size"] = manager.get_backup(ids[0]).size_mb
    out["plain"] = manager.get_backup(ids[0]).metadata["plain_bytes"] / (1 << 20)
    if kind == "sqlite":
        target = DatabaseURL(scheme="sqlite", database=str(tmp / "restored.db"))
        out["restore"], out["restore_rss"] = measured(lambda: manager.restore_backup(ids[0], target))
    return out


def restore_rounds(kind: str, ws: Path, url: DatabaseURL, theirs: Callable[[DatabaseURL], None],
                   rounds: int = RESTORE_ROUNDS) -> tuple[float, float, float]:
    """Best restore times (ours, theirs) over alternating rounds, and our peak RSS.

    Each restore goes into a fresh empty database after a ``CHECKPOINT`` (MySQL:
    ``FLUSH TABLES``), so neither tool pays for the dirty pages the other (or the
    table generation) left behind; the minimum of each, as in
    :func:`_common.interleaved`, since the server shares two cores with everything.
    """
    manager = BackupManager(ws, url)
    backup_id = next(b.backup_id for b in manager.get_backups("bench") if not b.encryption)
    settle = "CHECKPOINT" if kind == "postgres" else "FLUSH TABLES"
    mine: list[float] = []
    other: list[float] = []
    rss = 0.0
    for _ in range(rounds):
        for side in ("ours", "theirs"):
            with DatabaseConnection.from_url(server_url(kind)) as admin:
                admin.execute(settle)
            with scratch_database(server_url(kind), prefix="dbk_bench") as target:
                if side == "ours":
                    elapsed, peak = measured(lambda: manager.restore_backup(backup_id, target))
                    mine.append(elapsed)
                    rss = max(rss, peak)
                else:
                    start = time.perf_counter()
                    theirs(target)
                    other.append(time.perf_counter() - start)
    print(f"  restore rounds: ours {', '.join(f'{t:.2f}' for t in mine)} s; "
          f"theirs {', '.join(f'{t:.2f}' for t in other)} s", flush=True)
    return min(mine), min(other), rss


def dbkeeper_command() -> list[str]:
    """How a user runs the CLI: the ``dbkeeper`` script installed beside this interpreter (else ``-m``)."""
    script = Path(sys.executable).with_name("dbkeeper")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dbkeeper.cli"]


def compile_packages() -> None:
    """Write the bytecode of dbkeeper and its plugins, as an installed copy has it.

    With ``PYTHONDONTWRITEBYTECODE`` set (CI and some shells set it) an
    editable install keeps no ``.pyc`` files, and every ``dbkeeper`` command
    would compile its modules again: start-up a user of an installed copy
    never pays.
    """
    import compileall
    import importlib

    for name in ("dbkeeper", "dbkeeper_postgres", "dbkeeper_mysql", "dbkeeper_sqlite", "dbkeeper_redis"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        compileall.compile_dir(str(Path(module.__file__ or "").parent), quiet=1)


def median_ratio(ours_: list[float], theirs: list[float]) -> float:
    """The median of the pair-by-pair ratios (each pair ran back to back, so drift cancels within it)."""
    return statistics.median(a / b for a, b in zip(ours_, theirs, strict=True))


def pipeline_pairs(url: DatabaseURL, env: dict[str, str], tmp: Path, rounds: int = PIPELINE_ROUNDS) -> None:
    """The default full against ``pg_dump | zstd -T0``, the pipeline a savvy user writes, in alternating pairs.

    Each round runs the pipeline, then ``dbkeeper backup create`` as a
    subprocess (the whole command: interpreter start-up, imports,
    connection, manifest, catalog), then the pipeline again, then the
    library call (``create_backup`` in a forked child, the default way:
    no ``chainable`` argument), so each of ours has a pipeline run right
    before it. Ratios are taken pair by pair; the median counts.
    """
    piped = tmp / "pg.sql.zst"
    ws = tmp / "ws-pg-cli"
    # The URL goes in DBKEEPER_URL (the CLI's default), not argv, where a password would show.
    command = [*dbkeeper_command(), "backup", "create", "--name", "bench", "--compression", "zstd",
               "--workspace", str(ws), "--json"]
    cli_env = {**os.environ, "DBKEEPER_URL": url.render(hide_password=False)}
    manager = BackupManager(tmp / "ws-pg-lib", url)
    compile_packages()
    pipe_cli: list[float] = []
    cli: list[float] = []
    pipe_lib: list[float] = []
    lib: list[float] = []
    for _ in range(rounds):
        pipe_cli.append(timed_shell(f"pg_dump | zstd -q -T0 > {piped}", env))
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=cli_env)
        cli.append(time.perf_counter() - start)
        pipe_lib.append(timed_shell(f"pg_dump | zstd -q -T0 > {piped}", env))
        lib.append(measured(lambda: manager.create_backup("bench", compression="zstd"))[0])
    size = piped.stat().st_size / (1 << 20)
    archive = BackupManager(ws).get_backups("bench")[-1]
    print(f"  pg_dump | zstd -T0: {', '.join(f'{t:.2f}' for t in pipe_cli + pipe_lib)} s, {size:.1f} MB; "
          f"dbkeeper backup create: {', '.join(f'{t:.2f}' for t in cli)} s, {archive.size_mb:.1f} MB "
          f"({archive.metadata.get('dump_format')}); create_backup: {', '.join(f'{t:.2f}' for t in lib)} s",
          flush=True)
    record_ratio("postgres CLI full vs pg_dump | zstd -T0 (pairs)", median_ratio(cli, pipe_cli), 1.0)
    record_ratio("postgres create_backup vs pg_dump | zstd -T0 (pairs)", median_ratio(lib, pipe_lib), 1.0)
    record("postgres archive size (MB) vs pg_dump | zstd -T0", archive.size_mb, size, 1.0)


def record_ratio(name: str, ratio: float, limit: float) -> None:
    """Like :func:`record` for a ratio computed already (the median of pair-by-pair ratios)."""
    RESULTS.append((name, ratio, 1.0, f"<= {limit}x", ratio <= limit))
    print(f"  {name:<48} median ratio {ratio:5.2f} (target <= {limit}) {'ok' if ratio <= limit else 'MISSED'}",
          flush=True)


def bench_postgres(n: int, tmp: Path) -> None:
    print("PostgreSQL", flush=True)
    with scratch_database(server_url("postgres"), prefix="dbk_bench") as url:
        fill(url, "postgres", n)
        env = {"PGHOST": url.host or "localhost", "PGPORT": str(url.port or 5432), "PGUSER": url.username or "",
               "PGDATABASE": url.database or ""}
        dump = tmp / "pg.dump"
        theirs = timed_shell(f"pg_dump -Fc -f {dump}", env)
        size = dump.stat().st_size / (1 << 20)
        mine = ours(url, tmp / "ws-pg", "postgres", tmp)
        mine["restore"], restore, mine["restore_rss"] = restore_rounds(
            "postgres", tmp / "ws-pg", url,
            lambda target: subprocess.run(["pg_restore", "--no-owner", "-d", target.database or "", str(dump)],
                                          check=True, env={**os.environ, **env}))
        record("postgres backup time vs pg_dump -Fc", mine["backup"], theirs, 0.35)
        record("postgres backup size (MB) vs pg_dump -Fc", mine["size"], size, 1.05)
        record("postgres restore vs pg_restore", mine["restore"], restore, 1.2)
        from _restore_pg import restore_side_by_side

        plain_id = next(b.backup_id for b in BackupManager(tmp / "ws-pg").get_backups("bench") if not b.encryption)
        restore_side_by_side(url, tmp / "ws-pg", plain_id, tmp, record)
        record("postgres encrypted vs plain backup", mine["backup_enc"], mine["backup"], 1.15)
        memory(mine)
        pipeline_pairs(url, env, tmp)


def bench_mysql(n: int, tmp: Path) -> None:
    print("MySQL/MariaDB", flush=True)
    tool = shutil.which("mariadb-dump") or "mysqldump"
    client = shutil.which("mariadb") or "mysql"
    with scratch_database(server_url("mysql"), prefix="dbk_bench") as url:
        fill(url, "mysql", n)
        cnf = tmp / "my.cnf"
        cnf.write_text(f"[client]\nuser={url.username}\nhost={url.host}\nport={url.port or 3306}\n")
        cnf.chmod(0o600)
        dump = tmp / "my.sql.gz"
        theirs = timed_shell(f"{tool} --defaults-extra-file={cnf} --single-transaction --routines --triggers "
                             f"--events {url.database} | gzip -6 > {dump}")
        subprocess.run(f"gzip -dc {dump} > {tmp / 'my.sql'}", shell=True, check=True)
        mine = ours(url, tmp / "ws-my", "mysql", tmp)
        record("mysql backup vs mysqldump | gzip -6", mine["backup"], theirs, 0.5)
        mine["restore_rss"] = bench_mysql_restore(tmp / "ws-my", url, f"{client} --defaults-extra-file={cnf}",
                                                  tmp / "my.sql")
        record("mysql encrypted vs plain backup", mine["backup_enc"], mine["backup"], 1.15)
        memory(mine)


def bench_mysql_restore(ws: Path, url: DatabaseURL, client: str, dump_sql: Path,
                        rounds: int = RESTORE_ROUNDS) -> float:
    """MySQL restore side by side with ``mariadb < dump.sql``: the library call and the whole command.

    Rounds alternate (ours as a library call, ours as ``dbkeeper backup
    restore --replace`` in a new process, the native client) into fresh
    databases after ``FLUSH TABLES``; the target ``--replace`` restores into
    already holds a small table, so the scratch load and the ``RENAME TABLE``
    swap are part of what is measured. Medians count (the machine may be
    shared); the best rounds are printed too. Returns our peak RSS (MB).
    """
    manager = BackupManager(ws, url)
    backup_id = next(b.backup_id for b in manager.get_backups("bench") if not b.encryption)
    times: dict[str, list[float]] = {"library": [], "command": [], "native": []}
    rss = 0.0
    for _ in range(rounds):
        for side, values in times.items():
            with DatabaseConnection.from_url(server_url("mysql")) as admin:
                admin.execute("FLUSH TABLES")
            with scratch_database(server_url("mysql"), prefix="dbk_bench") as target:
                if side == "library":
                    elapsed, peak = measured(lambda: manager.restore_backup(backup_id, target))
                    rss = max(rss, peak)
                elif side == "command":
                    with DatabaseConnection.from_url(target) as conn:
                        conn.execute("CREATE TABLE old_rows (id int PRIMARY KEY)")
                    to = target.render(hide_password=False)
                    elapsed = timed_shell(f"{sys.executable} -m dbkeeper.cli backup restore {backup_id} "
                                          f"--to '{to}' --replace --workspace {ws} > /dev/null")
                else:
                    elapsed = timed_shell(f"{client} {target.database} < {dump_sql}")
                values.append(elapsed)
    for side, values in times.items():
        print(f"  mysql restore rounds, {side}: {', '.join(f'{t:.2f}' for t in values)} s", flush=True)
    native = statistics.median(times["native"])
    record("mysql restore (library) vs mariadb < dump", statistics.median(times["library"]), native, 1.0)
    record("mysql restore (whole command) vs mariadb < dump", statistics.median(times["command"]), native, 1.0)
    return rss


def bench_sqlite(n: int, tmp: Path) -> None:
    print("SQLite", flush=True)
    if not (shutil.which("sqlite3") and shutil.which("zstd")):
        print("  skipped: needs the sqlite3 and zstd command-line tools (apt-get install sqlite3 zstd)")
        return
    db = tmp / "bench.db"
    url = DatabaseURL(scheme="sqlite", database=str(db))
    fill(url, "sqlite", n)
    copy = tmp / "copy.db"
    theirs = timed_shell(f"sqlite3 {db} '.backup {copy}' && zstd -q -3 -T0 {copy} -o {copy}.zst")
    mine = ours(url, tmp / "ws-sqlite", "sqlite", tmp)
    record("sqlite backup vs sqlite3 .backup + zstd -3 -T0", mine["backup"], theirs, 1.5)
    record("sqlite encrypted vs plain backup", mine["backup_enc"], mine["backup"], 1.15)
    memory(mine)


def memory(mine: dict[str, float]) -> None:
    print(f"  dump {mine['plain']:.0f} MB -> archive {mine['size']:.0f} MB; peak RSS backup "
          f"{mine['backup_rss']:.0f} MB, restore {mine['restore_rss']:.0f} MB (limit 256)", flush=True)
    RESULTS.append(("peak RSS backup/restore (MB)", max(mine["backup_rss"], mine["restore_rss"]), 256,
                    "<= 256 MB", max(mine["backup_rss"], mine["restore_rss"]) <= 256))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="postgres,mysql,sqlite")
    args = parser.parse_args()
    os.environ[KEY_ENV] = os.urandom(32).hex()
    with tempfile.TemporaryDirectory(prefix="dbkeeper-bench-") as tmp:
        for kind in args.only.split(","):
            directory = Path(tmp) / kind
            directory.mkdir()
            {"postgres": bench_postgres, "mysql": bench_mysql, "sqlite": bench_sqlite}[kind](args.rows, directory)
    print("\nsummary")
    for name, ours_, theirs, target, ok in RESULTS:
        value = ours_ if "RSS" in name else ours_ / theirs if theirs else float("inf")
        print(f"  {name:<48} {value:6.2f}  {target:<10} {'ok' if ok else 'MISSED'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
