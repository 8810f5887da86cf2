"""PostgreSQL specifics beyond the shared conformance suite, against real servers.

Most tests use a scratch database on the shared test server. The restart
tests start a private PostgreSQL instance of their own (``initdb`` into a
temporary directory) and restart that one, so parallel tests and other
people's sessions on the shared server never see the restart.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ConfigurationError, ConnectionLostError, IntegrityError, QueryError
from dbkeeper.errors import ConnectionError as DbConnectionError
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.urls import DatabaseURL
from dbkeeper_postgres import PostgresDialect
from dbkeeper_postgres._conninfo import allowed_options, connect_kwargs

pytestmark = pytest.mark.postgres

SECRET = "Pg-S3cr@t:p/w%rd"


@pytest.fixture
def url(dbkeeper_postgres_url: DatabaseURL) -> DatabaseURL:
    return dbkeeper_postgres_url


@pytest.fixture
def db(url: DatabaseURL) -> Iterator[DatabaseConnection]:
    conn = DatabaseConnection.from_url(url, name="pg", pool_size=2, max_overflow=0, pool_timeout=2.0)
    conn.connect()
    try:
        yield conn
    finally:
        conn.disconnect()


def with_query(url: DatabaseURL, **options: str) -> DatabaseURL:
    return DatabaseURL(scheme=url.scheme, username=url.username, password=url.password, host=url.host,
                       port=url.port, database=url.database, query=tuple(options.items()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the plugin itself -------------------------------------------------------------------------------------
def test_importing_the_plugin_does_not_import_psycopg() -> None:
    code = (
        "import sys\n"
        "from dbkeeper.engine.plugins import get_registry\n"
        "assert get_registry().get_dialect('postgres').name == 'postgres'\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported at plugin load'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_both_url_schemes_resolve_to_the_postgres_dialect() -> None:
    from dbkeeper.engine.plugins import get_registry

    registry = get_registry()
    for scheme in ("postgresql", "postgres"):
        dialect = registry.dialect_for_url(DatabaseURL.parse(f"{scheme}://u@h/d"))
        assert isinstance(dialect, PostgresDialect)


def test_postgres_scheme_alias_connects(url: DatabaseURL) -> None:
    alias = DatabaseURL.parse(url.render(hide_password=False).replace("postgresql://", "postgres://", 1))
    assert alias.scheme == "postgres"
    with DatabaseConnection.from_url(alias) as conn:
        assert conn.dialect.name == "postgres"
        assert conn.execute("SELECT current_database() AS db").scalar() == url.database


# -- connection arguments ------------------------------------------------------------------------------------
def test_credentials_go_to_psycopg_as_separate_keyword_arguments() -> None:
    url = DatabaseURL.parse(f"postgresql://alice:{quote(SECRET, safe='')}@db.example:6543/app")
    kwargs = connect_kwargs(url, timeout=7.2)
    assert kwargs == {"host": "db.example", "port": 6543, "user": "alice", "password": SECRET, "dbname": "app",
                      "connect_timeout": 8, "application_name": "dbkeeper"}


def test_url_options_reach_the_server(url: DatabaseURL) -> None:
    tuned = with_query(url, application_name="dbk probe", options="-c statement_timeout=1234 -c work_mem=8MB",
                       sslmode="disable", target_session_attrs="read-write", connect_timeout="4",
                       keepalives_idle="30")
    with DatabaseConnection.from_url(tuned) as conn:
        row = conn.execute(
            "SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS st, "
            "current_setting('work_mem') AS wm, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first()
        assert row == {"app": "dbk probe", "st": "1234ms", "wm": "8MB", "ssl": False}
        assert conn.connection_timeout == 4.0


def test_application_name_defaults_to_dbkeeper(db: DatabaseConnection) -> None:
    assert db.execute("SHOW application_name").scalar() == "dbkeeper"


def test_sslmode_is_passed_to_libpq(url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(url) as conn:
        server_ssl = conn.execute("SHOW ssl").scalar() == "on"
    conn = DatabaseConnection.from_url(with_query(url, sslmode="require"), max_retries=0)
    if server_ssl:
        with conn:
            assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar() is True
    else:
        with pytest.raises(DbConnectionError, match="SSL"):
            conn.connect()


def test_unknown_url_option_is_refused_with_the_allowed_ones(url: DatabaseURL) -> None:
    conn = DatabaseConnection.from_url(with_query(url, sslmod="require"), max_retries=0)
    with pytest.raises(ConfigurationError) as info:
        conn.connect()
    message = str(info.value)
    assert "'sslmod'" in message
    assert "did you mean 'sslmode'?" in message
    for option in ("sslmode", "sslrootcert", "application_name", "options", "target_session_attrs"):
        assert option in message
    assert set(allowed_options()) >= {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}


@pytest.mark.parametrize("option", ["password", "sslpassword"])
def test_secrets_in_url_options_are_refused_without_echoing_them(option: str) -> None:
    url = DatabaseURL.parse(f"postgresql://u@h/d?{option}={quote(SECRET, safe='')}")
    with pytest.raises(ConfigurationError, match=option) as info:
        connect_kwargs(url)
    assert SECRET not in str(info.value)


def test_a_url_option_repeating_the_url_body_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="give it once"):
        connect_kwargs(DatabaseURL.parse("postgresql://u@h:5432/d?port=5433"))
    assert connect_kwargs(DatabaseURL.parse("postgresql:///d?host=/var/run/postgresql"))["host"] == \
        "/var/run/postgresql"


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_connect_timeout_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        connect_kwargs(DatabaseURL.parse(f"postgresql://u@h/d?connect_timeout={value}"))


def test_prepare_threshold_can_be_switched_off(url: DatabaseURL) -> None:
    assert connect_kwargs(with_query(url, prepare_threshold="none"))["prepare_threshold"] is None
    raw = PostgresDialect().connect(with_query(url, prepare_threshold="none"))
    try:
        assert raw.prepare_threshold is None
    finally:
        raw.close()
    with pytest.raises(ConfigurationError, match="prepare_threshold"):
        connect_kwargs(with_query(url, prepare_threshold="sometimes"))


def test_a_wrong_port_is_a_connection_error_without_the_password(url: DatabaseURL) -> None:
    bad = DatabaseURL(scheme="postgresql", username=url.username or "postgres", password=SECRET,
                      host="127.0.0.1", port=free_port(), database=url.database)
    conn = DatabaseConnection.from_url(bad, name="nowhere", connection_timeout=3, max_retries=0)
    with pytest.raises(DbConnectionError) as info:
        conn.connect()
    text = f"{info.value}\n{info.value!r}"
    assert "nowhere" in text
    assert str(bad.port) in text
    for form in (SECRET, quote(SECRET, safe=""), quote(SECRET)):
        assert form not in text


def test_connect_async_returns_a_working_autocommit_connection(url: DatabaseURL) -> None:
    async def main() -> tuple[Any, ...]:
        conn = await PostgresDialect().connect_async(url, timeout=5)
        try:
            async with conn.cursor() as cur:
                await cur.execute("CREATE TABLE t (id int)")
                await cur.execute("INSERT INTO t VALUES (%s)", (41,))
                await cur.execute("SELECT id + 1, current_setting('application_name') FROM t")
                row = await cur.fetchone()
            return (conn.autocommit, *row)
        finally:
            await conn.close()

    assert asyncio.run(main()) == (True, 42, "dbkeeper")
    with DatabaseConnection.from_url(url) as check:  # autocommit: the insert is visible elsewhere
        assert check.execute("SELECT id FROM t").scalar() == 41


# -- placeholders and PostgreSQL syntax ------------------------------------------------------------------------
def test_json_question_mark_operators_work_with_native_placeholders(db: DatabaseConnection) -> None:
    db.execute("CREATE TABLE docs (id int, body jsonb)")
    db.execute("INSERT INTO docs VALUES (%s, %s::jsonb), (%s, %s::jsonb)", (1, '{"a": 1, "b": 2}', 2, '{"c": 3}'))
    assert db.execute("SELECT id FROM docs WHERE body ? %s ORDER BY id", ("a",)).tuples() == [(1,)]
    assert db.execute("SELECT id FROM docs WHERE body ?| %s ORDER BY id", (["b", "c"],)).tuples() == [(1,), (2,)]
    assert db.execute("SELECT id FROM docs WHERE body ?& %(keys)s", {"keys": ["a", "b"]}).tuples() == [(1,)]
    assert db.execute("SELECT count(*) AS n FROM docs WHERE body ? 'c'").scalar() == 1


def test_dollar_quoted_strings_keep_question_marks_and_colons(db: DatabaseConnection) -> None:
    row = db.execute("SELECT $$what ? :x 50%$$ AS a, $tag$:y ? $$ ?$tag$ AS b, ? AS v", (7,)).first()
    assert row == {"a": "what ? :x 50%", "b": ":y ? $$ ?", "v": 7}
    row = db.execute("SELECT $body$ :x ? $body$ AS a, :v AS v", {"v": "named"}).first()
    assert row == {"a": " :x ? ", "v": "named"}
    db.execute(
        "CREATE FUNCTION ask(q text) RETURNS text LANGUAGE plpgsql AS $fn$ "
        "BEGIN RETURN q || ' ? :not_a_param'; END $fn$"
    )
    assert db.execute("SELECT ask(:q) AS r", {"q": "why"}).scalar() == "why ? :not_a_param"


def test_double_colon_casts_work_with_named_parameters(db: DatabaseConnection) -> None:
    row = db.execute(
        "SELECT :n::int + 1 AS n, :d::date AS d, '{1,2}'::int[] AS arr, :j::jsonb ->> 'k' AS k",
        {"n": "41", "d": "2024-02-29", "j": '{"k": "v"}'},
    ).first()
    assert row is not None
    assert (row["n"], str(row["d"]), row["arr"], row["k"]) == (42, "2024-02-29", [1, 2], "v")
    assert db.execute("SELECT ?::text || '::' AS s", (5,)).scalar() == "5::"


# -- COPY bulk insert ------------------------------------------------------------------------------------------
TRICKY_TEXTS = [
    "tab\there", "new\nline", "carriage\r\nreturn", "back\\slash", "\\N", "\\.", "\\.\n", "\\\\N", "\\t\\n",
    "", " ", "NULL", "null", "\\", "ends with backslash\\", "'quote'", '"double"', "comma,semicolon;",
    "ünïcödé 🐘 中文 \u200b zero-width", "e\u0301 combining", "\x01\x7f control", "%s %(x)s ? :name $1",
]


#: Any character a PostgreSQL text value can hold: no NUL, no lone surrogates (not encodable as UTF-8).
POSTGRES_TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


@pytest.fixture
def texts(db: DatabaseConnection) -> str:
    db.execute("CREATE TABLE texts (id int PRIMARY KEY, body text)")
    return "texts"


def test_bulk_insert_round_trips_tricky_text_exactly(db: DatabaseConnection, texts: str) -> None:
    values: list[str | None] = [*TRICKY_TEXTS, None, "x" * 5_000_000, ("\t\n\\" * 100_000)]
    rows = list(enumerate(values))
    assert db.bulk_insert(texts, rows, ["id", "body"]) == len(rows)
    back = db.execute("SELECT id, body FROM texts ORDER BY id").tuples()
    assert back == rows
    assert db.execute("SELECT count(*) FROM texts WHERE body IS NULL").scalar() == 1
    assert db.execute("SELECT count(*) FROM texts WHERE body = ''").scalar() == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.none() | st.text(POSTGRES_TEXT), max_size=20))
def test_bulk_insert_round_trips_any_text(db: DatabaseConnection, texts: str, values: list[str | None]) -> None:
    db.execute("TRUNCATE texts")
    rows = list(enumerate(values))
    assert db.bulk_insert(texts, rows, ["id", "body"]) == len(rows)
    assert db.execute("SELECT id, body FROM texts ORDER BY id").tuples() == rows


def test_bulk_insert_round_trips_other_types(db: DatabaseConnection) -> None:
    db.execute(
        "CREATE TABLE typed (i bigint, f double precision, n numeric, b boolean, bin bytea, ts timestamptz, "
        "u uuid, arr text[], j jsonb)"
    )
    rows = [
        (2**62, 0.1, Decimal("12345678901234567890.000000001"), True, b"\x00\t\n\\N\xff",
         datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC), UUID(int=1), ["a\tb", "c,d", None, "{}"],
         '{"k": "tab\\there"}'),
        (-(2**62), -0.0, Decimal("-1E-30"), False, b"", datetime(1970, 1, 1, tzinfo=UTC), UUID(int=2 ** 128 - 1),
         [], "[]"),
        (None, 1e308, None, None, None, None, None, None, None),
    ]
    columns = ["i", "f", "n", "b", "bin", "ts", "u", "arr", "j"]
    assert db.bulk_insert("typed", rows, columns) == 3
    back = db.execute("SELECT i, f, n, b, bin, ts, u, arr, j::text FROM typed ORDER BY i NULLS LAST").tuples()
    expected = [tuple(bytes(v) if isinstance(v, bytes) else v for v in r) for r in rows]
    got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in back]
    assert got[0] == (*expected[1][:8], "[]")
    assert got[1] == (*expected[0][:8], '{"k": "tab\\there"}')
    assert got[2] == expected[2]


def test_bulk_insert_streams_a_generator_and_counts_it(db: DatabaseConnection, texts: str) -> None:
    count = db.bulk_insert(texts, ((i, f"row {i}") for i in range(50_000)), ["id", "body"])
    assert count == 50_000
    assert db.execute("SELECT count(*), max(id) FROM texts").tuples() == [(50_000, 49_999)]


def test_bulk_insert_failure_leaves_nothing_behind(db: DatabaseConnection, texts: str) -> None:
    def rows() -> Iterator[tuple[int, str]]:
        yield from ((i, "ok") for i in range(100))
        raise RuntimeError("the source broke")

    # The core currently wraps errors of the caller's own iterator in QueryError; either way nothing is loaded.
    with pytest.raises((RuntimeError, QueryError), match="the source broke"):
        db.bulk_insert(texts, rows(), ["id", "body"])
    with pytest.raises(IntegrityError) as info:
        db.bulk_insert(texts, [(1, "a"), (1, "b")], ["id", "body"])
    assert info.value.sqlstate == "23505"
    with pytest.raises(QueryError, match="invalid input syntax"):
        db.bulk_insert(texts, [("not a number", "a")], ["id", "body"])
    assert db.execute("SELECT count(*) FROM texts").scalar() == 0
    assert db.bulk_insert(texts, [(1, "fine")], ["id", "body"]) == 1


# -- errors and disconnects --------------------------------------------------------------------------------------
def test_errors_carry_the_sqlstate(db: DatabaseConnection) -> None:
    with pytest.raises(QueryError) as info:
        db.execute("SELECT * FROM missing_table")
    assert info.value.sqlstate == "42P01"
    with pytest.raises(QueryError) as info:
        db.execute("SELECT 1/0")
    assert info.value.sqlstate == "22012"


def test_a_statement_timeout_is_a_query_error_not_a_disconnect(url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(with_query(url, options="-c statement_timeout=50"), pool_size=1) as conn:
        with pytest.raises(QueryError) as info:
            conn.execute("SELECT pg_sleep(2)")
        assert not isinstance(info.value, ConnectionLostError)
        assert info.value.sqlstate == "57014"
        assert conn.execute("SELECT 1 AS x").scalar() == 1
        assert conn.get_stats()["reconnects"] == 0


def kill(url: DatabaseURL, pid: int) -> None:
    with DatabaseConnection.from_url(url, name="killer", pool_size=1) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).scalar() is True


def test_a_killed_session_is_a_disconnect_and_the_next_statement_never_ran(url: DatabaseURL) -> None:
    import psycopg

    dialect = PostgresDialect()
    raw = dialect.connect(url)
    try:
        kill(url, raw.info.backend_pid)
        with pytest.raises(psycopg.OperationalError) as first:
            raw.execute("INSERT INTO nowhere VALUES (1)")
        assert dialect.error_code(first.value) == "57P01"
        assert dialect.is_disconnect(first.value)
        assert dialect.statement_not_executed(first.value)
        with pytest.raises(psycopg.OperationalError) as second:
            raw.execute("SELECT 1")
        assert dialect.error_code(second.value) is None
        assert dialect.is_disconnect(second.value)
        assert dialect.statement_not_executed(second.value)
        with pytest.raises(psycopg.OperationalError):
            dialect.ping(raw)
    finally:
        raw.close()


def test_ordinary_errors_are_not_disconnects(db: DatabaseConnection) -> None:
    import psycopg

    dialect = PostgresDialect()
    raw = dialect.connect(db.url)
    try:
        for sql in ("SELEC 1", "SELECT 1/0", "SET statement_timeout = 10; SELECT pg_sleep(1)", "SELECT * FROM nope"):
            with pytest.raises(psycopg.Error) as info:
                raw.execute(sql)
            assert not dialect.is_disconnect(info.value), sql
            assert not dialect.statement_not_executed(info.value), sql
        dialect.ping(raw)
    finally:
        raw.close()
    assert not dialect.is_disconnect(ValueError("the connection is closed"))


def test_a_killed_session_is_survived_by_a_write(db: DatabaseConnection, texts: str) -> None:
    """57P01 proves the INSERT never ran, so it is retried once, and runs exactly once."""
    pid = db.execute("SELECT pg_backend_pid()").scalar()
    kill(db.url, pid)
    db.execute("INSERT INTO texts VALUES (?, ?)", (1, "once"))
    assert db.execute("SELECT id, body FROM texts").tuples() == [(1, "once")]
    assert db.get_stats()["reconnects"] == 1


def test_a_session_killed_inside_a_transaction_commits_nothing(db: DatabaseConnection, texts: str) -> None:
    def doomed() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO texts VALUES (1, 'lost')")
            kill(db.url, tx.execute("SELECT pg_backend_pid()").scalar())
            with pytest.raises(ConnectionLostError):
                tx.execute("INSERT INTO texts VALUES (2, 'lost too')")
            with pytest.raises(ConnectionLostError, match="inside this transaction"):
                tx.execute("INSERT INTO texts VALUES (3, 'refused')")

    with pytest.raises(ConnectionLostError, match="nothing was committed"):
        doomed()
    assert db.execute("SELECT count(*) FROM texts").scalar() == 0
    with db.transaction() as tx:
        tx.execute("INSERT INTO texts VALUES (3, 'kept')")
    assert db.execute("SELECT id FROM texts").tuples() == [(3,)]


def test_a_transaction_after_a_killed_session_starts_on_a_fresh_connection(db: DatabaseConnection,
                                                                            texts: str) -> None:
    """BEGIN found the dead connection; nothing had run, so the transaction starts on a new one."""
    kill(db.url, db.execute("SELECT pg_backend_pid()").scalar())
    with db.transaction() as tx:
        tx.execute("INSERT INTO texts VALUES (1, 'first')")
    assert db.execute("SELECT count(*) FROM texts").scalar() == 1


def test_pre_ping_replaces_a_dead_pooled_connection(url: DatabaseURL) -> None:
    """With pre-ping the dialect's ping() finds the dead connection at checkout: even a transaction works."""
    with DatabaseConnection.from_url(url, pool_size=1, pre_ping=True) as conn:
        victim = conn.execute("SELECT pg_backend_pid()").scalar()
        kill(url, victim)
        with conn.transaction() as tx:
            assert tx.execute("SELECT pg_backend_pid()").scalar() != victim
        assert conn.get_stats()["errors"] == 0


# -- introspection, plans, databases ----------------------------------------------------------------------------
def test_server_version_and_health(db: DatabaseConnection) -> None:
    info = db.health_check()
    assert info["status"] == "healthy", info
    major = int(str(info["server_version"]).split(".")[0])
    assert major >= 13
    assert str(info["server_version"]) == db.execute("SHOW server_version").scalar()


def test_table_names_lists_user_tables_on_the_search_path(db: DatabaseConnection) -> None:
    db.execute("CREATE TABLE zeta (id int)")
    db.execute("CREATE TABLE \"Alpha\" (id int)")
    db.execute("CREATE TABLE events (at date) PARTITION BY RANGE (at)")
    db.execute("CREATE VIEW a_view AS SELECT 1 AS x")
    db.execute("CREATE SCHEMA hidden")
    db.execute("CREATE TABLE hidden.secret (id int)")
    assert db.get_tables() == ["Alpha", "events", "zeta"]
    assert db.execute("SELECT count(*) FROM pg_tables").scalar() > 3  # system tables exist, and are skipped


def test_explain_gives_json_and_a_readable_tree(db: DatabaseConnection) -> None:
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    db.execute("CREATE TABLE tags (item_id int, tag text)")
    plan = db.explain("SELECT * FROM items i JOIN tags t ON t.item_id = i.id WHERE i.name = ? ORDER BY i.id",
                      ("x",))
    assert plan.dialect == "postgres"
    assert isinstance(plan.raw, list)
    assert "Plan" in plan.raw[0]
    lines = plan.text.splitlines()
    assert "cost=" in lines[0]
    assert any("->  " in line for line in lines[1:])
    assert "on items i" in plan.text
    assert "on tags t" in plan.text
    assert "Filter: (name = 'x'::text)" in plan.text
    assert db.execute("SELECT count(*) FROM items").scalar() == 0


PLANNED_QUERIES = [
    "SELECT i.name, count(*) FROM items i JOIN tags t ON t.item_id = i.id WHERE i.name LIKE 'n1%' "
    "GROUP BY i.name ORDER BY 2 DESC LIMIT 5",
    "SELECT * FROM items WHERE id = (SELECT max(item_id) FROM tags)",
    "SELECT * FROM items i LEFT JOIN tags t ON t.item_id = i.id AND t.tag <> 'x'",
    "SELECT * FROM items i WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.item_id = i.id)",
    "WITH x AS MATERIALIZED (SELECT g FROM generate_series(1, 10) g) SELECT sum(g) FROM x",
    "SELECT * FROM (SELECT name, row_number() OVER (ORDER BY name) AS n FROM items) s WHERE n < 3",
    "SELECT name FROM items UNION SELECT tag FROM tags",
    "SELECT DISTINCT tag FROM tags WHERE item_id BETWEEN 10 AND 20",
    "VALUES (1, 'a'), (2, 'b')",
    "UPDATE items SET name = name || '!' WHERE id < 10",
]


def test_the_text_plan_matches_the_servers_own_text_explain(db: DatabaseConnection) -> None:
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    db.execute("CREATE TABLE tags (item_id int REFERENCES items (id), tag text)")
    db.execute("CREATE INDEX tags_item ON tags (item_id)")
    db.bulk_insert("items", [(i, f"n{i}") for i in range(2000)], ["id", "name"])
    db.bulk_insert("tags", [(i % 2000, f"t{i % 7}") for i in range(6000)], ["item_id", "tag"])
    db.execute("ANALYZE items")
    db.execute("ANALYZE tags")
    for query in PLANNED_QUERIES:
        expected = "\n".join(row[0] for row in db.execute(f"EXPLAIN {query}").tuples())
        assert db.explain(query).text == expected, query


def test_drop_database_forces_out_leftover_sessions(url: DatabaseURL) -> None:
    dialect = PostgresDialect()
    name = f"{url.database}_extra"
    with DatabaseConnection.from_url(url, name="admin", pool_size=1) as admin:
        admin.execute(dialect.create_database_sql(name))
        leftover = dialect.connect(url.with_database(name))
        try:
            admin.execute(dialect.drop_database_sql(name))
            assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = ?", (name,)).scalar() == 0
        finally:
            leftover.close()
        admin.execute(dialect.drop_database_sql(name))  # IF EXISTS: dropping twice is fine


# -- a real server restart (on a private instance) ----------------------------------------------------------------
@dataclass
class PrivateServer:
    """A throwaway PostgreSQL instance in a temporary directory, run as a non-root user."""

    bindir: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> DatabaseURL:
        return DatabaseURL(scheme="postgresql", username="postgres", host="127.0.0.1", port=self.port,
                           database="postgres")

    def ctl(self, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-t", "60",
                        "-l", str(self.root / "server.log"), *args], check=True, capture_output=True, timeout=90)

    def start(self) -> None:
        self.ctl("-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-4000:]
        except OSError as exc:
            return f"(no server log: {exc})"


def _postgres_bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True, text=True, timeout=30)
        candidates = [Path(out.stdout.strip())]
    except (OSError, subprocess.SubprocessError):
        candidates = []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    return next((d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable("initdb/pg_ctl not found: cannot start a private PostgreSQL to restart")
        return  # unreachable: unavailable() skips or fails
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("running as root without runuser: cannot start a private PostgreSQL")
            return  # unreachable
        run_as = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="dbk_pg_restart_"))
    if run_as:
        shutil.chown(root, user="postgres")
    server = PrivateServer(bindir=bindir, root=root, port=free_port(), run_as=run_as)
    try:
        subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        server.start()
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", None) or b""
        unavailable(f"cannot start a private PostgreSQL from {bindir}: {exc} {detail.decode(errors='replace')}")
        return  # unreachable
    try:
        yield server
    finally:
        try:
            server.ctl("-m", "immediate", "stop")
        except subprocess.SubprocessError:
            pass  # already stopped
        shutil.rmtree(root, ignore_errors=True)


def test_a_server_restart_is_survived(private_server: PrivateServer) -> None:
    with DatabaseConnection.from_url(private_server.url, name="restarting", pool_size=3) as conn:
        conn.execute("CREATE TABLE t (id int)")
        with conn.transaction() as tx:  # a second thread opens a second pooled connection meanwhile
            tx.execute("INSERT INTO t VALUES (1)")
            other = threading.Thread(target=conn.execute, args=("SELECT 1",))
            other.start()
            other.join()
        assert conn.pool_status()["checkedin"] == 2
        before = conn.execute("SELECT pg_backend_pid()").scalar()

        private_server.ctl("-m", "fast", "restart")

        conn.execute("INSERT INTO t VALUES (?)", (2,))  # a write: retried because 57P01 proves it never ran
        assert conn.execute("SELECT id FROM t ORDER BY id").tuples() == [(1,), (2,)], private_server.log()
        assert conn.execute("SELECT pg_backend_pid()").scalar() != before
        with conn.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (3)")
        assert conn.health_check()["status"] == "healthy"
        assert conn.get_stats()["reconnects"] >= 1


def test_a_stopped_server_is_a_connection_error_until_it_is_back(private_server: PrivateServer) -> None:
    with DatabaseConnection.from_url(private_server.url, name="stopping", pool_size=2, max_retries=0,
                                     connection_timeout=3) as conn:
        assert conn.execute("SELECT 1").scalar() == 1
        private_server.ctl("-m", "fast", "stop")
        try:
            with pytest.raises(DbConnectionError):
                conn.execute("SELECT 1")
            assert conn.health_check()["status"] == "unhealthy"
        finally:
            private_server.start()
        assert conn.execute("SELECT 2").scalar() == 2


@pytest.mark.parametrize("sql", [
    "SELECT 1 AS a, 'x' AS \"Grüße \"\"q\"\"\", NULL AS c",
    "SELECT 1 AS a WHERE false",
    "SELECT",
    "INSERT INTO cols VALUES (1)",
    "INSERT INTO cols VALUES (2) RETURNING id, id AS again",
    "UPDATE cols SET id = id",
    "SET application_name TO 'x'",
])
def test_result_columns_read_from_libpq_match_the_dbapi_description(db: DatabaseConnection, sql: str) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS cols (id int)")
    raw = db.dialect.connect(db.url)
    try:
        cursor = raw.cursor()
        cursor.execute(sql)
        expected = [d[0] for d in cursor.description] if cursor.description is not None else None
        assert db.dialect.result_columns(cursor) == expected
    finally:
        raw.close()
    assert db.execute(sql).columns == (expected or [])


def test_column_names_follow_the_sessions_client_encoding(url: DatabaseURL) -> None:
    """Names are decoded with the encoding libpq reports now, also after a SET changes it on the session."""
    conn = DatabaseConnection.from_url(url, pool_size=1, max_overflow=0)
    with conn:
        assert conn.execute('SELECT 1 AS "prix_é", 2 AS "ß"').columns == ["prix_é", "ß"]
        conn.execute("SET client_encoding TO 'LATIN1'")
        assert conn.execute('SELECT 1 AS "prix_é", 2 AS "ß"').columns == ["prix_é", "ß"]
        conn.execute("SET client_encoding TO 'UTF8'")
        assert conn.execute('SELECT 1 AS "prix_é"').columns == ["prix_é"]


def test_portable_placeholders_in_tuples_lists_and_mappings(db: DatabaseConnection) -> None:
    """The fast path for tuple and list parameters rewrites ``?`` like the general one; ``:name`` needs a mapping."""
    assert db.execute("SELECT ? AS a, ? AS b", (1, "x")).tuples() == [(1, "x")]
    assert db.execute("SELECT ? AS a, ? AS b", [2, "y"]).tuples() == [(2, "y")]
    assert db.execute("SELECT :a AS a, '?' AS q, '50%' AS p", {"a": 3}).tuples() == [(3, "?", "50%")]
    assert db.execute("SELECT %s AS a", (4,)).tuples() == [(4,)]  # native placeholders pass through
