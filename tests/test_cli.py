"""The ``dbkeeper`` command line, run in-process (click's CliRunner) and as a real subprocess.

Every test uses a real SQLite file in ``tmp_path``; expected values are read
from the database with the standard library's ``sqlite3``, never written into
the test. Third-party plugins are real distributions (a ``.dist-info`` with
an entry point) put on ``PYTHONPATH`` of a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbkeeper import __version__
from dbkeeper.cli import BUILTIN_COMMANDS, cli
from dbkeeper.cli._params import parse_params, parse_value
from dbkeeper.cli._state import CliState
from dbkeeper.engine.plugins import get_registry

_DBKEEPER_ENV = ("DBKEEPER_URL", "DBKEEPER_CONFIG", "DBKEEPER_DISABLE_PLUGINS", "DBKEEPER_STRICT_PLUGINS")
PASSWORD = "S3cr@t-pw"
ENCODED_PASSWORD = "S3cr%40t-pw"
UNREACHABLE_URL = f"postgresql://u:{ENCODED_PASSWORD}@127.0.0.1:1/db"


@dataclass
class Outcome:
    """What one CLI run produced, the same shape for both ways of running it."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DBKEEPER_ENV}
    env.update(extra)
    return env


def run_subprocess(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
                   stdin: str | None = None) -> Outcome:
    proc = subprocess.run(
        [sys.executable, "-m", "dbkeeper.cli", *args], cwd=cwd, env=env if env is not None else clean_env(),
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None,
                   obj: Any = None) -> Outcome:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, obj=obj)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


RunCli = Callable[..., Outcome]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory: no dbkeeper.toml, no DBKEEPER_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in _DBKEEPER_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(params=["in-process", "subprocess"])
def dbkeeper(request: pytest.FixtureRequest, workdir: Path) -> RunCli:
    """Run ``dbkeeper ARGS`` through CliRunner or as a child process, in ``workdir``."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Outcome:
        if request.param == "in-process":
            return run_in_process(list(args), env=env, stdin=stdin)
        return run_subprocess(list(args), cwd=workdir, env=clean_env(**(env or {})), stdin=stdin)

    return run


@pytest.fixture
def shop(workdir: Path) -> Path:
    """A SQLite file with customers and orders (foreign key, index, NULLs, a quoted value)."""
    path = workdir / "shop.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(id),
                amount REAL,
                note TEXT
            );
            CREATE INDEX idx_orders_customer ON orders (customer_id);
            """
        )
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                         [(1, "Ada", "ada@example.com"), (2, "Alan", None), (3, "Grace", "grace@example.com")])
        conn.executemany("INSERT INTO orders (customer_id, amount, note) VALUES (?, ?, ?)",
                         [(1, 10.5, "first"), (1, 20.0, None), (3, 7.25, 'a, "quoted"\nnote')])
        conn.commit()
    return path


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def fetch(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows as dicts, straight from sqlite3 (the reference the CLI is compared with)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def assert_clean_failure(outcome: Outcome, exit_code: int) -> None:
    assert outcome.exit_code == exit_code, outcome
    assert outcome.stderr.startswith("error: "), outcome.stderr
    assert "Traceback" not in outcome.output


# -- version, help, laziness -----------------------------------------------------------------------------------


def test_version_prints_the_package_version(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("--version")
    assert outcome.exit_code == 0
    assert outcome.stdout.strip() == f"dbkeeper {__version__}"


def test_help_lists_every_builtin_command(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("--help")
    assert outcome.exit_code == 0
    listed = outcome.stdout.split("Commands:", 1)[1]
    for name in BUILTIN_COMMANDS:
        assert f"\n  {name} " in listed


def test_help_imports_neither_rich_nor_sqlalchemy(workdir: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from click.testing import CliRunner
        from dbkeeper.cli import cli
        heavy = {}
        for args in (["--help"], ["query", "--help"], ["plugins", "--json"], ["--version"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            heavy[" ".join(args)] = sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "sqlalchemy"))
        print(json.dumps(heavy))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=workdir, env=clean_env(), capture_output=True,
                          text=True, timeout=120, check=True)
    assert json.loads(proc.stdout) == {"--help": [], "query --help": [], "plugins --json": [], "--version": []}


def test_an_unknown_command_is_a_usage_error(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("no-such-command")
    assert outcome.exit_code == 2
    assert "No such command" in outcome.stderr


# -- plugins ---------------------------------------------------------------------------------------------------


def test_plugins_json_lists_sqlite_as_loaded_with_its_dialect(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("plugins", "--json")
    assert outcome.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(outcome.stdout)}
    sqlite_plugin = plugins["sqlite"]
    assert sqlite_plugin["status"] == "loaded"
    assert sqlite_plugin["error"] is None
    assert sqlite_plugin["distribution"] == "dbkeeper-sqlite"
    assert sqlite_plugin["version"]
    assert "dbkeeper_register_dialects" in sqlite_plugin["hooks"]
    assert [(d["name"], d["schemes"]) for d in sqlite_plugin["dialects"]] == [("sqlite", ["sqlite"])]


def test_plugins_table_names_every_plugin_with_its_status(workdir: Path) -> None:
    outcome = run_in_process(["plugins"])
    assert outcome.exit_code == 0
    lines = outcome.stdout.splitlines()
    for info in get_registry().plugins():
        row = next(line for line in lines if line.startswith(info.name + " "))
        assert info.status in row


# -- query -----------------------------------------------------------------------------------------------------


def test_query_json_returns_the_rows_the_database_holds(dbkeeper: RunCli, shop: Path) -> None:
    sql = "SELECT * FROM orders ORDER BY id"
    outcome = dbkeeper("query", sql, "--db", url_of(shop), "--format", "json")
    assert outcome.exit_code == 0, outcome
    assert json.loads(outcome.stdout) == fetch(shop, sql)


def test_query_csv_parses_back_to_the_same_rows(dbkeeper: RunCli, shop: Path) -> None:
    sql = "SELECT id, customer_id, amount, note FROM orders ORDER BY id"
    outcome = dbkeeper("query", sql, "--db", url_of(shop), "-f", "csv")
    assert outcome.exit_code == 0, outcome
    parsed = list(csv.DictReader(io.StringIO(outcome.stdout)))
    expected = [{k: "" if v is None else str(v) for k, v in row.items()} for row in fetch(shop, sql)]
    assert parsed == expected


def test_query_table_shows_headers_values_and_null(workdir: Path, shop: Path) -> None:
    outcome = run_in_process(["query", "SELECT id, email FROM customers ORDER BY id", "--db", url_of(shop)])
    assert outcome.exit_code == 0
    lines = outcome.stdout.splitlines()
    assert lines[0].split() == ["id", "email"]
    rows = fetch(shop, "SELECT id, email FROM customers ORDER BY id")
    body = [line.split() for line in lines[2:2 + len(rows)]]
    assert body == [[str(r["id"]), r["email"] if r["email"] is not None else "NULL"] for r in rows]
    assert f"{len(rows)} rows" in outcome.stdout


def test_query_binds_repeated_params_to_positional_placeholders_in_order(dbkeeper: RunCli, shop: Path) -> None:
    sql = "SELECT name FROM customers WHERE id IN (?, ?) ORDER BY id"
    outcome = dbkeeper("query", sql, "--db", url_of(shop), "--param", "3", "--param", "1", "-f", "json")
    assert outcome.exit_code == 0, outcome
    assert json.loads(outcome.stdout) == fetch(shop, sql, (3, 1))


def test_query_binds_name_value_params_to_named_placeholders(dbkeeper: RunCli, shop: Path) -> None:
    sql = "SELECT id FROM customers WHERE name = :name OR email = :email ORDER BY id"
    outcome = dbkeeper("query", sql, "--db", url_of(shop), "-p", "name=Alan", "-p", "email=grace@example.com",
                       "-f", "json")
    assert outcome.exit_code == 0, outcome
    expected = fetch(shop, sql.replace(":name", "?").replace(":email", "?"), ("Alan", "grace@example.com"))
    assert json.loads(outcome.stdout) == expected
    assert expected  # the statement really matched something


def test_query_param_values_are_text_unless_they_are_json_scalars(workdir: Path, shop: Path) -> None:
    values = ["42", "4.5", "-1e3", "true", "null", "abc", '"42"', "007", "NaN", " 7", "[1]", '"a=b"']
    sql = "SELECT " + ", ".join(f"typeof(?) AS t{i}, ? AS v{i}" for i in range(len(values)))
    args = ["query", sql, "--db", url_of(shop), "-f", "json"]
    for value in values:
        args += ["-p", value, "-p", value]
    outcome = run_in_process(args)
    assert outcome.exit_code == 0, outcome
    row = json.loads(outcome.stdout)[0]
    types = [row[f"t{i}"] for i in range(len(values))]
    bound = [row[f"v{i}"] for i in range(len(values))]
    assert types == ["integer", "real", "real", "integer", "null", "text", "text", "text", "text", "text", "text",
                     "text"]
    assert bound == [42, 4.5, -1000.0, 1, None, "abc", "42", "007", "NaN", " 7", "[1]", "a=b"]


def test_query_refuses_to_mix_positional_and_named_params(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("query", "SELECT ?, :x", "--db", url_of(shop), "-p", "1", "-p", "x=2")
    assert outcome.exit_code == 2
    assert "not both" in outcome.stderr


def test_parse_params_returns_none_list_or_dict() -> None:
    assert parse_params(()) is None
    assert parse_params(("1", "b")) == [1, "b"]
    assert parse_params(("a=1", "b=x=y")) == {"a": 1, "b": "x=y"}
    assert parse_value("") == ""
    assert parse_value("Infinity") == "Infinity"


def test_query_without_a_result_set_reports_rows_affected(dbkeeper: RunCli, shop: Path) -> None:
    matching = len(fetch(shop, "SELECT id FROM orders WHERE customer_id = 1"))
    outcome = dbkeeper("query", "UPDATE orders SET note = ? WHERE customer_id = ?", "--db", url_of(shop),
                       "-p", "changed", "-p", "1")
    assert outcome.exit_code == 0, outcome
    assert outcome.stdout.strip() == f"{matching} rows affected"
    assert len(fetch(shop, "SELECT id FROM orders WHERE note = 'changed'")) == matching
    as_json = dbkeeper("query", "DELETE FROM orders WHERE customer_id = 3", "--db", url_of(shop), "-f", "json")
    assert json.loads(as_json.stdout)["rows_affected"] == 1
    assert fetch(shop, "SELECT id FROM orders WHERE customer_id = 3") == []


def test_query_reads_the_statement_from_stdin_with_a_dash(dbkeeper: RunCli, shop: Path) -> None:
    sql = "SELECT COUNT(*) AS n FROM customers"
    outcome = dbkeeper("query", "-", "--db", url_of(shop), "-f", "json", stdin=sql)
    assert outcome.exit_code == 0, outcome
    assert json.loads(outcome.stdout) == fetch(shop, sql)


def test_query_creates_a_new_sqlite_database(dbkeeper: RunCli, workdir: Path) -> None:
    path = workdir / "new.db"
    outcome = dbkeeper("query", "CREATE TABLE notes (body TEXT)", "--db", url_of(path))
    assert outcome.exit_code == 0, outcome
    assert fetch(path, "SELECT name FROM sqlite_master WHERE type = 'table'") == [{"name": "notes"}]


# -- tables, describe, health ------------------------------------------------------------------------------------


def test_tables_lists_the_user_tables(dbkeeper: RunCli, shop: Path) -> None:
    expected = [r["name"] for r in fetch(shop, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    outcome = dbkeeper("tables", "--db", url_of(shop))
    assert outcome.exit_code == 0, outcome
    assert outcome.stdout.splitlines() == expected
    assert json.loads(dbkeeper("tables", "--db", url_of(shop), "--json").stdout) == expected


def test_describe_json_reports_columns_keys_indexes_and_row_count(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("describe", "orders", "--db", url_of(shop), "--json")
    assert outcome.exit_code == 0, outcome
    info = json.loads(outcome.stdout)
    pragma = fetch(shop, "PRAGMA table_info(orders)")
    assert [c["name"] for c in info["columns"]] == [c["name"] for c in pragma]
    assert info["primary_key"] == [c["name"] for c in pragma if c["pk"]]
    assert [(i["name"], i["columns"]) for i in info["indexes"]] == [
        (i["name"], [c["name"] for c in fetch(shop, f"PRAGMA index_info({i['name']})")])
        for i in fetch(shop, "PRAGMA index_list(orders)") if i["origin"] == "c"
    ]
    foreign = fetch(shop, "PRAGMA foreign_key_list(orders)")
    assert [(k["columns"], k["referred_table"], k["referred_columns"]) for k in info["foreign_keys"]] == [
        ([k["from"]], k["table"], [k["to"]]) for k in foreign
    ]
    assert info["row_count"] == fetch(shop, "SELECT COUNT(*) AS n FROM orders")[0]["n"]


def test_describe_table_output_names_every_column_and_the_foreign_key(workdir: Path, shop: Path) -> None:
    outcome = run_in_process(["describe", "orders", "--db", url_of(shop)])
    assert outcome.exit_code == 0
    for column in fetch(shop, "PRAGMA table_info(orders)"):
        assert any(line.split()[:1] == [column["name"]] for line in outcome.stdout.splitlines())
    assert "customers(id)" in outcome.stdout
    assert "idx_orders_customer" in outcome.stdout


def test_describe_an_unknown_table_fails_and_lists_the_existing_ones(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("describe", "invoices", "--db", url_of(shop))
    assert_clean_failure(outcome, 1)
    assert "invoices" in outcome.stderr
    assert "customers" in outcome.stderr


@pytest.mark.parametrize("command", [["tables"], ["describe", "orders"]])
def test_read_commands_refuse_a_missing_sqlite_file_without_creating_it(workdir: Path, command: list[str]) -> None:
    path = workdir / "typo.db"
    outcome = run_in_process([*command, "--db", url_of(path)])
    assert_clean_failure(outcome, 1)
    assert "does not exist" in outcome.stderr
    assert not path.exists()


def test_health_reports_healthy_with_the_sqlite_version(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("health", "--db", url_of(shop), "--json")
    assert outcome.exit_code == 0, outcome
    report = json.loads(outcome.stdout)
    assert report["status"] == "healthy"
    assert report["server_version"] == fetch(shop, "SELECT sqlite_version() AS v")[0]["v"]
    assert report["latency_ms"] >= 0
    text = dbkeeper("health", "--db", url_of(shop))
    assert text.exit_code == 0
    assert "healthy" in text.stdout


def test_health_of_a_missing_database_is_unhealthy_with_exit_1(dbkeeper: RunCli, workdir: Path) -> None:
    path = workdir / "gone.db"
    outcome = dbkeeper("health", "--db", url_of(path), "--json")
    assert outcome.exit_code == 1
    assert json.loads(outcome.stdout)["status"] == "unhealthy"
    assert not path.exists()


# -- choosing the database -----------------------------------------------------------------------------------------


def write_config(workdir: Path, body: str) -> None:
    (workdir / "dbkeeper.toml").write_text(textwrap.dedent(body), encoding="utf-8")


def test_db_accepts_a_named_connection_with_env_interpolation(dbkeeper: RunCli, workdir: Path, shop: Path) -> None:
    write_config(workdir, """
        [connections.shop]
        url = "sqlite:///${SHOP_DIR}/shop.db"
        pool_size = 2

        [connections.other]
        url = "sqlite:///other.db"
    """)
    outcome = dbkeeper("tables", "--db", "shop", env={"SHOP_DIR": str(shop.parent)})
    assert outcome.exit_code == 0, outcome
    assert "customers" in outcome.stdout.splitlines()


def test_a_named_connection_with_an_unset_variable_is_a_usage_error(dbkeeper: RunCli, workdir: Path) -> None:
    write_config(workdir, """
        [connections.shop]
        url = "sqlite:///${SHOP_DIR_NOT_SET}/shop.db"
    """)
    outcome = dbkeeper("tables", "--db", "shop")
    assert_clean_failure(outcome, 2)
    assert "SHOP_DIR_NOT_SET" in outcome.stderr


def test_db_falls_back_to_dbkeeper_url(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("tables", env={"DBKEEPER_URL": url_of(shop)})
    assert outcome.exit_code == 0, outcome
    assert "orders" in outcome.stdout.splitlines()


def test_db_falls_back_to_the_config_default_connection(dbkeeper: RunCli, workdir: Path, shop: Path) -> None:
    write_config(workdir, f"""
        default = "main"
        [connections.main]
        url = "{url_of(shop)}"
        [connections.spare]
        url = "sqlite:///spare.db"
    """)
    outcome = dbkeeper("query", "SELECT COUNT(*) AS n FROM customers", "-f", "json")
    assert outcome.exit_code == 0, outcome
    assert json.loads(outcome.stdout) == fetch(shop, "SELECT COUNT(*) AS n FROM customers")


def test_no_database_given_anywhere_is_a_usage_error(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("tables")
    assert_clean_failure(outcome, 2)
    assert "--db" in outcome.stderr
    assert "DBKEEPER_URL" in outcome.stderr


def test_an_unknown_connection_name_is_a_usage_error_listing_the_known_ones(dbkeeper: RunCli, workdir: Path) -> None:
    write_config(workdir, """
        [connections.alpha]
        url = "sqlite:///alpha.db"
    """)
    outcome = dbkeeper("tables", "--db", "beta")
    assert_clean_failure(outcome, 2)
    assert "'beta'" in outcome.stderr
    assert "alpha" in outcome.stderr


def test_a_misspelled_scheme_suggests_the_right_one(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("tables", "--db", "postgress://user@localhost/app")
    assert_clean_failure(outcome, 2)
    assert "did you mean 'postgres'" in outcome.stderr


def test_a_scheme_whose_plugin_is_missing_names_the_extra_to_install(workdir: Path) -> None:
    env = clean_env(DBKEEPER_DISABLE_PLUGINS="postgres,dbkeeper-postgres")
    outcome = run_subprocess(["query", "SELECT 1", "--db", "postgresql://user@localhost/app"], cwd=workdir, env=env)
    assert_clean_failure(outcome, 2)
    assert 'pip install "dbkeeper[postgres]"' in outcome.stderr


def test_a_failing_statement_exits_1_with_one_error_line(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("query", "SELECT nope FROM customers", "--db", url_of(shop))
    assert_clean_failure(outcome, 1)
    assert "no such column: nope" in outcome.stderr


def test_a_constraint_violation_exits_1(dbkeeper: RunCli, shop: Path) -> None:
    outcome = dbkeeper("query", "INSERT INTO customers (id, name) VALUES (1, 'again')", "--db", url_of(shop))
    assert_clean_failure(outcome, 1)
    assert "UNIQUE" in outcome.stderr


# -- secrets -----------------------------------------------------------------------------------------------------


def _expected_unreachable_exit() -> int:
    """1 (cannot connect) with the PostgreSQL plugin installed, 2 (install it) without."""
    return 1 if "postgres" in get_registry().dialects() else 2


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["tables"], ["health"], ["health", "--json"]])
def test_the_password_never_appears_for_an_unreachable_server(workdir: Path, command: list[str]) -> None:
    outcome = run_subprocess([*command, "--db", UNREACHABLE_URL], cwd=workdir)
    assert outcome.exit_code == _expected_unreachable_exit(), outcome
    assert "Traceback" not in outcome.output
    assert PASSWORD not in outcome.output
    assert ENCODED_PASSWORD not in outcome.output
    if outcome.exit_code == 1:  # it really tried: the error names the server, not the password
        assert "127.0.0.1" in outcome.output


def test_the_password_never_appears_when_it_comes_from_config_or_env(workdir: Path) -> None:
    write_config(workdir, """
        [connections.remote]
        url = "postgresql://u:${REMOTE_PW}@127.0.0.1:1/db"
    """)
    from_config = run_subprocess(["tables", "--db", "remote"], cwd=workdir, env=clean_env(REMOTE_PW=PASSWORD))
    from_env = run_subprocess(["tables"], cwd=workdir, env=clean_env(DBKEEPER_URL=UNREACHABLE_URL))
    for outcome in (from_config, from_env):
        assert outcome.exit_code == _expected_unreachable_exit(), outcome
        assert PASSWORD not in outcome.output
        assert ENCODED_PASSWORD not in outcome.output


def test_the_password_of_a_mistyped_url_is_masked(dbkeeper: RunCli) -> None:
    outcome = dbkeeper("tables", "--db", UNREACHABLE_URL.replace("://", "//"))
    assert_clean_failure(outcome, 2)
    assert PASSWORD not in outcome.output
    assert ENCODED_PASSWORD not in outcome.output


# -- closing connections and Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "exit_code"), [
    (["tables"], 0),
    (["describe", "orders"], 0),
    (["health"], 0),
    (["query", "SELECT * FROM orders"], 0),
    (["query", "SELECT nope FROM orders"], 1),
])
def test_every_connection_is_closed_when_the_command_ends(workdir: Path, shop: Path, command: list[str],
                                                          exit_code: int) -> None:
    state = CliState()
    outcome = run_in_process([*command, "--db", url_of(shop)], obj=state)
    assert outcome.exit_code == exit_code, outcome
    assert state.connections
    assert not any(connection.is_connected for connection in state.connections)
    # SQLite removes the WAL file when the last connection to the database closes.
    assert not Path(f"{shop}-wal").exists()


@pytest.fixture
def interruptible_popen() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    # A child started from a background job inherits an ignored SIGINT; this launcher
    # restores Python's KeyboardInterrupt handler first, then runs `python -m dbkeeper.cli`.
    launcher = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv[0] = 'dbkeeper'; runpy.run_module('dbkeeper.cli', run_name='__main__', alter_sys=True)")

    def popen(args: list[str], cwd: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", launcher, *args], cwd=cwd, env=clean_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield popen
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_during_a_long_query_exits_130_promptly(workdir: Path, shop: Path,
                                                       interruptible_popen: Callable[..., subprocess.Popen[str]]
                                                       ) -> None:
    # Reading customers first opens a read transaction, which creates the WAL file: the sign it runs.
    endless = ("WITH RECURSIVE c(x) AS (SELECT MIN(id) FROM customers UNION ALL SELECT x + 1 FROM c "
               "WHERE x < 1000000000) SELECT COUNT(*) FROM c")
    proc = interruptible_popen(["query", endless, "--db", url_of(shop)], workdir)
    wal = Path(f"{shop}-wal")
    deadline = time.monotonic() + 60
    while not wal.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)  # let the statement get going
    assert proc.poll() is None  # counting to 10**9 takes minutes
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    assert stdout == ""


# -- plugin commands -------------------------------------------------------------------------------------------


def install_plugin(site: Path, name: str, source: str) -> None:
    """A real installed distribution: a module plus a .dist-info with a ``dbkeeper`` entry point."""
    site.mkdir(exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = site / f"{name}-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[dbkeeper]\n{name} = {name}\n", encoding="utf-8")


HELLO_PLUGIN = """
    import os
    import click
    import dbkeeper

    @dbkeeper.hookimpl
    def dbkeeper_register_commands(cli):
        marker = os.environ.get("HELLO_MARKER")
        if marker:
            with open(marker, "a") as handle:
                handle.write("registered\\n")

        @cli.command()
        @click.argument("who")
        def hello(who):
            \"\"\"Greet WHO (a command added by a plugin).\"\"\"
            click.echo(f"hello {who}, from a plugin")
"""


@pytest.fixture
def plugin_site(workdir: Path) -> Path:
    return workdir / "site"


def plugin_env(site: Path, **extra: str) -> dict[str, str]:
    return clean_env(PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), **extra)


def test_a_plugin_adds_commands_through_the_hook(workdir: Path, plugin_site: Path) -> None:
    install_plugin(plugin_site, "dbkeeper_hello", HELLO_PLUGIN)
    env = plugin_env(plugin_site)
    assert "hello" in run_subprocess(["--help"], cwd=workdir, env=env).stdout
    greeting = run_subprocess(["hello", "world"], cwd=workdir, env=env)
    assert greeting.exit_code == 0, greeting
    assert greeting.stdout.strip() == "hello world, from a plugin"
    plugins = {p["name"]: p for p in json.loads(run_subprocess(["plugins", "--json"], cwd=workdir, env=env).stdout)}
    assert plugins["dbkeeper_hello"]["status"] == "loaded"
    assert plugins["dbkeeper_hello"]["hooks"] == ["dbkeeper_register_commands"]


def test_plugin_commands_are_registered_only_when_the_group_needs_them(workdir: Path, plugin_site: Path,
                                                                       shop: Path) -> None:
    install_plugin(plugin_site, "dbkeeper_hello", HELLO_PLUGIN)
    marker = workdir / "registered.txt"
    env = plugin_env(plugin_site, HELLO_MARKER=str(marker))
    assert run_subprocess(["tables", "--db", url_of(shop)], cwd=workdir, env=env).exit_code == 0
    assert not marker.exists()
    assert run_subprocess(["--help"], cwd=workdir, env=env).exit_code == 0
    assert marker.read_text().splitlines() == ["registered"]


def test_a_broken_plugin_is_reported_and_everything_else_still_works(workdir: Path, plugin_site: Path,
                                                                      shop: Path) -> None:
    install_plugin(plugin_site, "dbkeeper_broken", "raise RuntimeError('broken on purpose')\n")
    install_plugin(plugin_site, "dbkeeper_no_commands", """
        import dbkeeper

        @dbkeeper.hookimpl
        def dbkeeper_register_commands(cli):
            raise RuntimeError("no commands today")
    """)
    env = plugin_env(plugin_site)
    listing = run_subprocess(["plugins", "--json"], cwd=workdir, env=env)
    assert listing.exit_code == 0, listing
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins["dbkeeper_broken"]["status"] == "failed"
    assert "broken on purpose" in plugins["dbkeeper_broken"]["error"]
    assert plugins["dbkeeper_no_commands"]["status"] == "failed"
    assert "no commands today" in plugins["dbkeeper_no_commands"]["error"]
    assert plugins["sqlite"]["status"] == "loaded"
    table = run_subprocess(["plugins"], cwd=workdir, env=env)
    assert "broken on purpose" in table.stdout
    assert run_subprocess(["--help"], cwd=workdir, env=env).exit_code == 0
    query = run_subprocess(["query", "SELECT COUNT(*) AS n FROM orders", "--db", url_of(shop), "-f", "json"],
                           cwd=workdir, env=env)
    assert json.loads(query.stdout) == fetch(shop, "SELECT COUNT(*) AS n FROM orders")
