"""Migrations side by side: ``dbkeeper migrate up`` vs ``alembic upgrade head`` vs ``yoyo apply --batch``.

What is timed is what a user waits for: one whole process per tool, started
from a shell, applying the same 200 small migrations (one ``CREATE TABLE``
each) to an empty database, on SQLite, PostgreSQL and MySQL/MariaDB. Every
tool runs with its defaults:

- dbkeeper: each migration in its own transaction (MySQL: statement by
  statement with recorded progress), holding the migration lock (advisory
  lock, ``GET_LOCK``, file lock) for the whole run;
- alembic: one revision file per migration, ``op.execute(sql)``, the stock
  online ``env.py`` (all revisions in one transaction where the database allows);
- yoyo: one ``.sql`` file per migration, ``yoyo apply --batch`` (one
  transaction per migration, its lock table).

Then ``dbkeeper migrate status`` is timed against 10,000 applied migrations
(files and history rows; the rows are written with ``migrate baseline``).

Each tool's result is checked (all 200 tables exist) so a fast failure cannot
pass as a fast run. With ``--repeat N`` the tools take turns (dbkeeper,
alembic, yoyo, dbkeeper, ...) and the median of each is reported, so a
change in machine load does not favour whichever tool ran first. Run it with the bench environment (``pip install
"dbkeeper[bench]"``) and the test servers up::

    python benchmarks/bench_migrate.py                 # all dialects, one run each
    python benchmarks/bench_migrate.py --dialects sqlite --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing import servers
from dbkeeper.urls import DatabaseURL

BIN = Path(sys.executable).parent
TABLE_SQL = "CREATE TABLE bench_{i:04d} (id INTEGER PRIMARY KEY, name VARCHAR(100), amount INTEGER)"
LIMITS = {  # dbkeeper's time as a fraction of the other tool's, at most
    ("sqlite", "alembic"): 0.7, ("postgres", "alembic"): 0.7, ("mysql", "alembic"): 1.0,
    ("sqlite", "yoyo"): 0.5, ("postgres", "yoyo"): 0.5, ("mysql", "yoyo"): 0.5,
}


# -- databases ----------------------------------------------------------------------------------------
@contextmanager
def fresh_database(dialect: str, workdir: Path, tag: str) -> Iterator[DatabaseURL]:
    """An empty database for one tool's run; dropped afterwards."""
    if dialect == "sqlite":
        yield DatabaseURL(scheme="sqlite", database=str(workdir / f"{tag}.db"))
        return
    with servers.scratch_database(servers.server_url(dialect), prefix="dbk_bench") as url:
        yield url


def count_tables(url: DatabaseURL) -> int:
    """How many ``bench_%`` tables the database holds."""
    conn = DatabaseConnection.from_url(url, name="bench-check", pool_size=1).connect()
    try:
        if url.scheme == "sqlite":
            sql = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name LIKE 'bench%'"
        elif url.scheme.startswith("postgres"):
            sql = "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename LIKE 'bench%'"
        else:
            sql = ("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() "
                   "AND table_name LIKE 'bench%'")
        return int(conn.execute(sql).scalar())
    finally:
        conn.disconnect()


def sqlalchemy_url(url: DatabaseURL) -> str:
    """The URL alembic (SQLAlchemy) and yoyo take for the same database."""
    if url.scheme == "sqlite":
        return f"sqlite:///{url.database}"
    driver = "postgresql+psycopg" if url.scheme.startswith("postgres") else "mysql+pymysql"
    return url.render(hide_password=False).replace(f"{url.scheme}://", f"{driver}://", 1)


def yoyo_url(url: DatabaseURL) -> str:
    """yoyo's spelling of the URL (its MySQL backend is PyMySQL under plain ``mysql``)."""
    if url.scheme == "sqlite":
        return f"sqlite:///{url.database}"
    if url.scheme.startswith("postgres"):
        return sqlalchemy_url(url)
    return url.render(hide_password=False)


# -- the three tools' projects ---------------------------------------------------------------------------
def write_dbkeeper(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True)
    for i in range(1, count + 1):
        (directory / f"{i:04d}_create_bench_{i:04d}.up.sql").write_text(TABLE_SQL.format(i=i) + ";\n")
        (directory / f"{i:04d}_create_bench_{i:04d}.down.sql").write_text(f"DROP TABLE bench_{i:04d};\n")
    return directory


ALEMBIC_ENV = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

ALEMBIC_REVISION = '''\
"""create bench_{i:04d}"""
from alembic import op

revision = "r{i:04d}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    op.execute("{sql}")


def downgrade():
    op.execute("DROP TABLE bench_{i:04d}")
'''


def write_alembic(directory: Path, count: int, url: str) -> Path:
    versions = directory / "versions"
    versions.mkdir(parents=True)
    (directory / "env.py").write_text(ALEMBIC_ENV)
    ini = directory / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {directory}\nsqlalchemy.url = {url}\n")
    for i in range(1, count + 1):
        down = f'"r{i - 1:04d}"' if i > 1 else "None"
        (versions / f"r{i:04d}_create_bench.py").write_text(
            ALEMBIC_REVISION.format(i=i, down=down, sql=TABLE_SQL.format(i=i)))
    return ini


def write_yoyo(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True)
    for i in range(1, count + 1):
        (directory / f"{i:04d}_create_bench_{i:04d}.sql").write_text(TABLE_SQL.format(i=i) + ";\n")
        (directory / f"{i:04d}_create_bench_{i:04d}.rollback.sql").write_text(f"DROP TABLE bench_{i:04d};\n")
    return directory


def dbkeeper_command() -> list[str]:
    """``dbkeeper migrate`` when the CLI has it, else the group run as a module."""
    console = BIN / "dbkeeper"
    if console.exists():
        probe = subprocess.run([str(console), "migrate", "--help"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return [str(console), "migrate"]
    return [sys.executable, "-m", "dbkeeper.cli.commands.migrate"]


# -- timing -----------------------------------------------------------------------------------------------
def timed(command: list[str], cwd: Path) -> float:
    """Wall-clock seconds of one process; raises with its output when it fails."""
    # As a user runs it: bytecode caches written (PYTHONDONTWRITEBYTECODE=1 would recompile every start).
    env = {k: v for k, v in os.environ.items() if k not in ("DBKEEPER_URL", "PYTHONSTARTUP", "PYTHONDONTWRITEBYTECODE")}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def run_tool(tool: str, dialect: str, count: int, workdir: Path, run: int) -> float:
    tag = f"{tool}_{run}"
    with fresh_database(dialect, workdir, tag) as url:
        project = workdir / f"{tag}_{dialect}"
        if tool == "dbkeeper":
            directory = write_dbkeeper(project, count)
            command = [*dbkeeper_command(), "up", "--db", url.render(hide_password=False), "--dir", str(directory)]
        elif tool == "alembic":
            ini = write_alembic(project, count, sqlalchemy_url(url))
            command = [str(BIN / "alembic"), "-c", str(ini), "upgrade", "head"]
        else:
            directory = write_yoyo(project, count)
            command = [str(BIN / "yoyo"), "apply", "--batch", "--no-config-file", "--database", yoyo_url(url),
                       str(directory)]
        elapsed = timed(command, workdir)
        found = count_tables(url)
        if found != count:
            raise RuntimeError(f"{tool} on {dialect}: {found} of {count} tables exist after the run")
        shutil.rmtree(project)
        return elapsed


def time_status(dialect: str, count: int, workdir: Path) -> float:
    """Seconds of one ``migrate status`` process against ``count`` applied migrations."""
    with fresh_database(dialect, workdir, "status") as url:
        directory = workdir / f"status_{dialect}"
        directory.mkdir()
        for i in range(1, count + 1):
            (directory / f"{i:05d}_t{i}.up.sql").write_text(f"CREATE TABLE t{i} (x INTEGER);\n")
        db = url.render(hide_password=False)
        timed([*dbkeeper_command(), "baseline", "--db", db, "--dir", str(directory)], workdir)
        timed([*dbkeeper_command(), "status", "--db", db, "--dir", str(directory)], workdir)  # warm the page cache
        elapsed = timed([*dbkeeper_command(), "status", "--db", db, "--dir", str(directory)], workdir)
        shutil.rmtree(directory)
        return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialects", default="sqlite,postgres,mysql")
    parser.add_argument("--count", type=int, default=200, help="migrations to apply (default 200)")
    parser.add_argument("--status-count", type=int, default=10_000, help="applied migrations for status")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median is reported")
    parser.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    failures: list[str] = []
    say: Callable[[str], None] = print
    say(f"dbkeeper command: {' '.join(Path(p).name for p in dbkeeper_command())}")
    with tempfile.TemporaryDirectory(prefix="dbk-bench-") as tmp:
        workdir = Path(tmp)
        for dialect in args.dialects.split(","):
            if dialect != "sqlite":
                reason = servers.check_server(servers.server_url(dialect))
                if reason is not None:
                    say(f"{dialect}: skipped ({reason})")
                    continue
            times: dict[str, list[float]] = {"dbkeeper": [], "alembic": [], "yoyo": []}
            for run in range(args.repeat):  # interleaved, so a change in machine load hits every tool alike
                for tool, measured in times.items():
                    measured.append(run_tool(tool, dialect, args.count, workdir, run))
            row: dict[str, float] = {tool: statistics.median(values) for tool, values in times.items()}
            row["status"] = time_status(dialect, args.status_count, workdir)
            results[dialect] = row
            alembic_ratio = row["dbkeeper"] / row["alembic"]
            yoyo_ratio = row["dbkeeper"] / row["yoyo"]
            say(f"{dialect:9} up x{args.count}: dbkeeper {row['dbkeeper']:.2f} s | alembic {row['alembic']:.2f} s "
                f"(ratio {alembic_ratio:.2f}, limit {LIMITS[(dialect, 'alembic')]}) | yoyo {row['yoyo']:.2f} s "
                f"(ratio {yoyo_ratio:.2f}, limit {LIMITS[(dialect, 'yoyo')]}) | status x{args.status_count}: "
                f"{row['status']:.2f} s (limit 1.0)")
            for tool, ratio in (("alembic", alembic_ratio), ("yoyo", yoyo_ratio)):
                if ratio > LIMITS[(dialect, tool)]:
                    failures.append(f"{dialect}: {ratio:.2f}x {tool}, limit {LIMITS[(dialect, tool)]}")
            if row["status"] > 1.0:
                failures.append(f"{dialect}: status took {row['status']:.2f} s")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    for failure in failures:
        say(f"OVER LIMIT: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
