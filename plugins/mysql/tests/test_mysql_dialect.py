"""MySQL/MariaDB specifics the shared conformance suite does not cover.

Everything that talks to a database uses a real server through the
``dbkeeper_mysql_url`` fixture (a scratch database per test).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pymysql
import pytest
from pymysql.constants import CLIENT

from dbkeeper.engine.connection import DatabaseConnection, DatabaseType
from dbkeeper.engine.plugins import get_registry
from dbkeeper.errors import ConfigurationError, ConnectionError, ConnectionLostError, QueryError
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql import MySQLDialect, __version__
from dbkeeper_mysql._connect_args import TLSSettings, connect_arguments, tls_context
from dbkeeper_mysql._explain import plan_text

pytestmark = pytest.mark.mysql

TRICKY_VALUES = [
    "back\\slash",
    "trailing backslash\\",
    "\\",
    "it's",
    "it\\'s",
    'double "quotes"',
    "''",
    "nul\x00byte",
    "\x00",
    "ctrl-z \x1a, cr \r, lf \n, tab \t",
    "percent %s %(name)s %% and ? and :name",
    "ünïcödé ß 中文 עברית",
    "4-byte emoji 🐘🦭👩‍👩‍👧 and 𝄞",
    "x" * 60_000,
    "",
    None,
]


@pytest.fixture
def dialect() -> MySQLDialect:
    return MySQLDialect()


@pytest.fixture
def connection(dbkeeper_mysql_url: DatabaseURL) -> Iterator[DatabaseConnection]:
    conn = DatabaseConnection.from_url(dbkeeper_mysql_url, name="mysql-specifics", pool_size=2)
    conn.connect()
    try:
        yield conn
    finally:
        conn.disconnect()


@pytest.fixture
def raw(dialect: MySQLDialect, dbkeeper_mysql_url: DatabaseURL) -> Iterator[Any]:
    conn = dialect.connect(dbkeeper_mysql_url, timeout=5)
    try:
        yield conn
    finally:
        if conn.open:
            conn.close()


def _with_query(url: DatabaseURL, **options: str) -> DatabaseURL:
    return replace(url, query=tuple(options.items()))


def _scalar(conn: Any, sql: str) -> Any:
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return row[1] if row and len(row) > 1 else (row[0] if row else None)


# -- plugin and URLs ----------------------------------------------------------------------------
def test_the_plugin_registers_mysql_for_both_schemes() -> None:
    registry = get_registry()
    assert isinstance(registry.get_dialect("mysql"), MySQLDialect)
    assert registry.dialect_for_url(DatabaseURL.parse("mariadb://u@h/db")) is registry.get_dialect("mysql")
    (info,) = [p for p in registry.plugins() if p.name == "mysql"]
    assert info.status == "loaded", info.error
    assert info.version == __version__
    assert info.dialects[0]["capabilities"]["transactional_ddl"] is False


def test_importing_the_plugin_does_not_import_pymysql() -> None:
    code = "import sys, dbkeeper_mysql; assert 'pymysql' not in sys.modules and 'sqlalchemy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mariadb_scheme_is_an_alias(dbkeeper_mysql_url: DatabaseURL) -> None:
    url = replace(dbkeeper_mysql_url, scheme="mariadb")
    assert url.render().startswith("mariadb://")
    with DatabaseConnection.from_url(url.render(hide_password=False)) as conn:
        assert conn.dialect.name == "mysql"
        assert conn.db_type is DatabaseType.MYSQL
        assert conn.execute("SELECT DATABASE() AS db").scalar() == url.database


def test_a_driver_suffix_is_ignored(dbkeeper_mysql_url: DatabaseURL) -> None:
    url = replace(dbkeeper_mysql_url, driver="mysqldb")
    with DatabaseConnection.from_url(url) as conn:
        assert type(conn.execute("SELECT 1 AS x").scalar()) is int
        assert conn.dialect.name == "mysql"


# -- connect arguments --------------------------------------------------------------------------
def test_url_options_reach_pymysql(dialect: MySQLDialect, dbkeeper_mysql_url: DatabaseURL) -> None:
    url = _with_query(dbkeeper_mysql_url, connect_timeout="7", read_timeout="20", write_timeout="21",
                      **{"ssl-mode": "disabled"})
    conn = dialect.connect(url, timeout=99, autocommit=False)
    try:
        assert conn.connect_timeout == 7
        assert conn.get_autocommit() is False
        assert conn.charset == "utf8mb4"
        assert conn.ssl is False
        assert not conn.client_flag & CLIENT.LOCAL_FILES
        assert conn.client_flag & CLIENT.FOUND_ROWS
        assert _scalar(conn, "SELECT @@character_set_client") == "utf8mb4"
        assert _scalar(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'") == ""
    finally:
        conn.close()
    kwargs, _ = connect_arguments(url, timeout=None, autocommit=True)
    assert (kwargs["read_timeout"], kwargs["write_timeout"], kwargs["local_infile"]) == (20.0, 21.0, False)


def test_connect_timeout_comes_from_the_timeout_argument_without_a_url_option(dbkeeper_mysql_url: DatabaseURL) -> None:
    kwargs, _ = connect_arguments(dbkeeper_mysql_url, timeout=4.5, autocommit=True)
    assert kwargs["connect_timeout"] == 4.5
    kwargs, _ = connect_arguments(dbkeeper_mysql_url, timeout=None, autocommit=True)
    assert kwargs["connect_timeout"] == 10.0


def test_the_server_sql_mode_is_left_alone(raw: Any) -> None:
    global_mode = _scalar(raw, "SELECT @@GLOBAL.sql_mode")
    assert _scalar(raw, "SELECT @@SESSION.sql_mode") == global_mode


def test_the_password_is_sent_as_utf8_bytes() -> None:
    url = DatabaseURL(scheme="mysql", username="u", password="pässwörd", host="h", database="d")
    kwargs, _ = connect_arguments(url, timeout=None, autocommit=True)
    assert kwargs["password"] == "pässwörd".encode()


def test_unknown_url_options_are_rejected_with_the_allowed_list(dbkeeper_mysql_url: DatabaseURL) -> None:
    url = replace(_with_query(dbkeeper_mysql_url, sslca="/etc/ca.pem"), password="hunter2-secret")
    conn = DatabaseConnection.from_url(url)
    with pytest.raises(ConfigurationError) as info:
        conn.connect()
    message = str(info.value)
    assert "'sslca'" in message and "did you mean 'ssl_ca'" in message
    for allowed in ("connect_timeout", "ssl-mode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_identity"):
        assert allowed in message
    assert "hunter2-secret" not in message


@pytest.mark.parametrize(("query", "expected"), [
    ({}, TLSSettings(mode="preferred")),
    ({"ssl-mode": "DISABLED"}, TLSSettings(mode="disabled")),
    ({"sslmode": "disable"}, TLSSettings(mode="disabled")),
    ({"ssl_mode": "require"}, TLSSettings(mode="required")),
    ({"ssl-mode": "required", "ssl_ca": "/ca.pem"}, TLSSettings(mode="required", ca="/ca.pem", verify_cert=True)),
    ({"ssl-mode": "required", "ssl_ca": "/ca.pem", "ssl_verify_cert": "false"},
     TLSSettings(mode="required", ca="/ca.pem")),
    ({"ssl-mode": "verify-ca"}, TLSSettings(mode="verify_ca", verify_cert=True)),
    ({"sslmode": "verify-full", "ssl_ca": "/ca.pem"},
     TLSSettings(mode="verify_identity", ca="/ca.pem", verify_cert=True, verify_identity=True)),
    ({"ssl_ca": "/ca.pem"}, TLSSettings(mode="required", ca="/ca.pem", verify_cert=True)),
    ({"ssl_verify_identity": "true"}, TLSSettings(mode="required", verify_cert=True, verify_identity=True)),
    ({"ssl-cert": "/c.pem", "ssl-key": "/k.pem"}, TLSSettings(mode="required", cert="/c.pem", key="/k.pem")),
])
def test_tls_options_resolve_like_the_mysql_client(query: dict[str, str], expected: TLSSettings) -> None:
    url = DatabaseURL(scheme="mysql", host="h", query=tuple(query.items()))
    _, tls = connect_arguments(url, timeout=None, autocommit=True)
    assert tls == expected


@pytest.mark.parametrize("query", [
    {"ssl-mode": "disabled", "ssl_ca": "/ca.pem"},
    {"ssl-mode": "preferred", "ssl_verify_cert": "true"},
    {"ssl-mode": "verify_identity", "ssl_verify_identity": "false"},
    {"ssl-mode": "verify_ca", "ssl_verify_cert": "no"},
    {"ssl_verify_identity": "1", "ssl_verify_cert": "0"},
    {"ssl_key": "/k.pem"},
    {"ssl-mode": "sometimes"},
    {"ssl_verify_cert": "maybe"},
    {"ssl_mode": "required", "sslmode": "disable"},
    {"connect_timeout": "soon"},
    {"read_timeout": "0"},
])
def test_contradicting_or_malformed_tls_and_timeout_options_are_rejected(query: dict[str, str]) -> None:
    url = DatabaseURL(scheme="mysql", host="h", query=tuple(query.items()))
    with pytest.raises(ConfigurationError):
        connect_arguments(url, timeout=None, autocommit=True)


def test_tls_context_verifies_exactly_what_was_asked() -> None:
    loose = tls_context(TLSSettings(mode="required"))
    assert (loose.verify_mode, loose.check_hostname) == (ssl.CERT_NONE, False)
    strict = tls_context(TLSSettings(mode="verify_identity", verify_cert=True, verify_identity=True))
    assert (strict.verify_mode, strict.check_hostname) == (ssl.CERT_REQUIRED, True)
    ca_only = tls_context(TLSSettings(mode="verify_ca", verify_cert=True))
    assert (ca_only.verify_mode, ca_only.check_hostname) == (ssl.CERT_REQUIRED, False)
    with pytest.raises(ConfigurationError, match="ssl_ca"):
        tls_context(TLSSettings(mode="verify_ca", ca="/nonexistent/ca.pem", verify_cert=True))


def test_required_tls_is_enforced(dbkeeper_mysql_url: DatabaseURL) -> None:
    url = _with_query(dbkeeper_mysql_url, **{"ssl-mode": "required"})
    with DatabaseConnection.from_url(dbkeeper_mysql_url, pool_size=1) as probe:
        have_ssl = probe.execute("SELECT @@have_ssl AS v").scalar()
    conn = DatabaseConnection.from_url(url, max_retries=0)
    try:
        if have_ssl == "YES":
            conn.connect()
            assert conn.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'").rows[0]["Value"]
        else:
            with pytest.raises(ConnectionError, match="SSL is required"):
                conn.connect()
    finally:
        conn.disconnect()


def test_a_wrong_port_is_a_connection_error_without_the_password(dbkeeper_mysql_url: DatabaseURL) -> None:
    secret = "p@ss:w/rd-Секрет"
    url = DatabaseURL(scheme="mysql", username="root", password=secret, host="127.0.0.1", port=1,
                      database=dbkeeper_mysql_url.database)
    conn = DatabaseConnection.from_url(url, max_retries=1, connection_timeout=2)
    with pytest.raises(ConnectionError) as info:
        conn.connect()
    text = f"{info.value}\n{info.value!r}\n{conn!r}"
    assert "127.0.0.1" in text and "2003" in text
    assert secret not in text and "p%40ss" not in text


# -- values, quoting and placeholders ----------------------------------------------------------------
def test_backslashes_and_quotes_round_trip_through_parameters(connection: DatabaseConnection) -> None:
    connection.execute("CREATE TABLE notes (id INT PRIMARY KEY, body LONGTEXT)")
    values = [v for v in TRICKY_VALUES if v is not None]
    for i, value in enumerate(values):
        connection.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (i, value))
    for i, value in enumerate(values):
        assert connection.execute("SELECT body FROM notes WHERE id = :id", {"id": i}).scalar() == value
        assert connection.execute("SELECT COUNT(*) AS n FROM notes WHERE body = %s", (value,)).scalar() >= 1


def test_backslash_escapes_are_on_in_string_literals(connection: DatabaseConnection) -> None:
    assert connection.dialect.backslash_escapes is True
    row = connection.execute(r"SELECT 'it\'s' AS a, 'tab\there' AS b, 'C:\\dir\\' AS c").first()
    assert row == {"a": "it's", "b": "tab\there", "c": "C:\\dir\\"}


def test_placeholders_are_rewritten_but_not_inside_backslash_escaped_strings(connection: DatabaseConnection) -> None:
    row = connection.execute(r"SELECT 'it\'s ?' AS lit, ? AS v, 'C:\\' AS path, ? AS w", (5, "six")).first()
    assert row == {"lit": "it's ?", "v": 5, "path": "C:\\", "w": "six"}
    row = connection.execute(r"SELECT 'it\'s :name' AS lit, :v AS v, `odd``:col` AS c "
                             r"FROM (SELECT 1 AS `odd``:col`) AS t", {"v": 7}).first()
    assert row == {"lit": "it's :name", "v": 7, "c": 1}


def test_quote_identifier_doubles_backticks(dialect: MySQLDialect, connection: DatabaseConnection) -> None:
    assert dialect.quote_identifier("we`ird") == "`we``ird`"
    assert dialect.qualify(("shop", "order")) == "`shop`.`order`"
    connection.execute(f"CREATE TABLE {dialect.quote_identifier('we`ird')} (id INT)")
    assert connection.get_tables() == ["we`ird"]


def test_values_come_back_with_their_python_types(connection: DatabaseConnection) -> None:
    from decimal import Decimal

    connection.execute("CREATE TABLE typed (d DOUBLE, f FLOAT, v VARCHAR(20), t TEXT, n DECIMAL(10,2), "
                       "i BIGINT, b VARBINARY(10))")
    connection.execute("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (0.1, 1.5, "v", "t", Decimal("12.34"), 2**40, b"\x00\xff"))
    row = connection.execute("SELECT * FROM typed").first()
    assert row == {"d": 0.1, "f": 1.5, "v": "v", "t": "t", "n": Decimal("12.34"), "i": 2**40, "b": b"\x00\xff"}
    assert type(row["d"]) is float and type(row["v"]) is str


# -- counts, ids and DDL ------------------------------------------------------------------------
def test_rows_affected_counts_matched_rows_and_lastrowid_is_reported(connection: DatabaseConnection) -> None:
    connection.execute("CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))")
    first = connection.execute("INSERT INTO people (name) VALUES (?)", ("ann",))
    second = connection.execute("INSERT INTO people (name) VALUES (?)", ("bob",))
    assert (first.lastrowid, second.lastrowid) == (1, 2)
    unchanged = connection.execute("UPDATE people SET name = name")
    assert unchanged.rows_affected == 2
    assert unchanged.lastrowid is None
    assert connection.execute("DELETE FROM people WHERE id = ?", (1,)).rows_affected == 1


def test_ddl_commits_implicitly_which_the_capabilities_declare(connection: DatabaseConnection) -> None:
    assert connection.dialect.capabilities.transactional_ddl is False
    with pytest.raises(RuntimeError), connection.transaction() as tx:
        tx.execute("CREATE TABLE survivor (id INT)")
        raise RuntimeError("roll back")
    assert connection.get_tables() == ["survivor"]


def test_table_names_are_sorted_base_tables_only(connection: DatabaseConnection) -> None:
    for name in ("b_table", "A_table", "c_table"):
        connection.execute(f"CREATE TABLE {name} (id INT)")
    connection.execute("CREATE VIEW a_view AS SELECT id FROM b_table")
    assert connection.get_tables() == ["A_table", "b_table", "c_table"]


def test_create_database_uses_utf8mb4(dialect: MySQLDialect, connection: DatabaseConnection) -> None:
    assert dialect.create_database_sql("we`ird") == "CREATE DATABASE `we``ird` CHARACTER SET utf8mb4"
    charset = connection.execute("SELECT @@character_set_database AS c").scalar()
    assert charset == "utf8mb4"


# -- explain ------------------------------------------------------------------------------------------
def test_explain_returns_the_json_plan_and_readable_text(connection: DatabaseConnection) -> None:
    connection.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), KEY by_name (name))")
    connection.execute("CREATE TABLE tags (item_id INT, tag VARCHAR(20))")
    plan = connection.explain("SELECT * FROM items JOIN tags ON tags.item_id = items.id WHERE items.name = ?;",
                              ("x",))
    assert plan.dialect == "mysql"
    assert isinstance(plan.raw, dict) and "query_block" in plan.raw
    assert "table items" in plan.text and "table tags" in plan.text
    assert plan.text.startswith("select #1")
    assert connection.execute("SELECT COUNT(*) AS n FROM items").scalar() == 0


def test_explain_text_renders_the_mysql_8_layout() -> None:
    document = {"query_block": {"select_id": 1, "cost_info": {"query_cost": "0.35"},
                                "ordering_operation": {"using_filesort": True, "table": {
                                    "table_name": "items", "access_type": "ref", "possible_keys": ["by_name"],
                                    "key": "by_name", "used_key_parts": ["name"], "ref": ["const"],
                                    "rows_examined_per_scan": 1, "filtered": "100.00",
                                    "cost_info": {"read_cost": "0.25"}, "used_columns": ["id", "name"]}}}}
    assert plan_text(document).splitlines() == [
        "select #1",
        "  ordering operation",
        "    table items: ref on by_name (name), ref const, rows 1, filtered 100.00%",
    ]
    assert plan_text({"query_block": {"select_id": 1, "table": {"message": "No tables used"}}}) == (
        "select #1\n  No tables used")


# -- bulk insert --------------------------------------------------------------------------------------
def test_bulk_insert_round_trips_tricky_values_exactly(connection: DatabaseConnection) -> None:
    connection.execute("CREATE TABLE blobs (id INT PRIMARY KEY, body LONGTEXT, raw LONGBLOB, price DOUBLE)")
    rows = [(i, value, value.encode() if value is not None else None, i / 3)
            for i, value in enumerate(TRICKY_VALUES)]
    rows.append((len(rows), "bytes", b"\x00\\'\"\x1a\xff", -0.0))
    assert connection.bulk_insert("blobs", rows, ["id", "body", "raw", "price"]) == len(rows)
    back = connection.execute("SELECT id, body, raw, price FROM blobs ORDER BY id").tuples()
    assert back == rows


def test_bulk_insert_splits_a_large_input_into_several_statements(connection: DatabaseConnection,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    connection.execute("CREATE TABLE many (id INT PRIMARY KEY, name VARCHAR(100), note VARCHAR(100))")
    monkeypatch.setattr(connection.dialect, "bulk_batch_bytes", 8 * 1024)
    rows = [(i, f"name {i} 🐘", None if i % 2 else "it's \\ here") for i in range(5000)]
    with connection.transaction() as tx:
        before = int(tx.execute("SHOW SESSION STATUS LIKE 'Com_insert'").rows[0]["Value"])
        assert tx.bulk_insert("many", rows, ["id", "name", "note"]) == 5000
        statements = int(tx.execute("SHOW SESSION STATUS LIKE 'Com_insert'").rows[0]["Value"]) - before
    assert statements >= 15  # about 150 KB of SQL in statements of at most 8 KiB
    assert connection.execute("SELECT COUNT(*) AS n FROM many").scalar() == 5000
    assert connection.execute("SELECT note FROM many WHERE id = 4").scalar() == "it's \\ here"


def test_bulk_insert_batch_size_can_be_given_per_call(dialect: MySQLDialect, raw: Any) -> None:
    cursor = raw.cursor()
    cursor.execute("CREATE TABLE small (id INT PRIMARY KEY, v VARCHAR(50))")
    cursor.execute("START TRANSACTION")
    inserted = dialect.bulk_insert(raw, "`small`", ["`id`", "`v`"], ((i, "v" * 40) for i in range(100)),
                                   batch_bytes=1000)
    cursor.execute("COMMIT")
    cursor.execute("SHOW SESSION STATUS LIKE 'Com_insert'")
    statements = int(cursor.fetchone()[1])
    cursor.close()
    assert inserted == 100
    assert statements >= 100 * 45 // 1000


def test_bulk_insert_refuses_a_row_larger_than_max_allowed_packet(connection: DatabaseConnection) -> None:
    connection.execute("CREATE TABLE huge (id INT PRIMARY KEY, body LONGTEXT)")
    limit = int(connection.execute("SELECT @@max_allowed_packet AS m").scalar())
    rows = [(1, "small"), (2, "x" * (limit + 1))]
    with pytest.raises(QueryError, match="max_allowed_packet"):
        connection.bulk_insert("huge", rows, ["id", "body"])
    assert connection.execute("SELECT COUNT(*) AS n FROM huge").scalar() == 0


def test_bulk_insert_escapes_for_the_session_sql_mode(dialect: MySQLDialect, raw: Any) -> None:
    cursor = raw.cursor()
    cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
    assert dialect.uses_backslash_escapes(raw) is False
    cursor.execute("CREATE TABLE modes (id INT PRIMARY KEY, v TEXT)")
    values = ["a\\b", "it\\'s", "\\", "''", "nul\x00"]
    dialect.bulk_insert(raw, "`modes`", ["`id`", "`v`"], list(enumerate(values)))
    cursor.execute("SELECT v FROM modes ORDER BY id")
    assert [r[0] for r in cursor.fetchall()] == values
    cursor.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
    assert dialect.uses_backslash_escapes(raw) is True
    cursor.close()


# -- disconnects --------------------------------------------------------------------------------------
def _kill(url: DatabaseURL, session_id: int) -> None:
    with DatabaseConnection.from_url(url, name="admin", pool_size=1) as admin:
        admin.execute(f"KILL CONNECTION {session_id}")


def test_a_killed_session_is_replaced_and_the_read_retried(dbkeeper_mysql_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_mysql_url, pool_size=1, max_overflow=0) as conn:
        victim = conn.execute("SELECT CONNECTION_ID() AS id").scalar()
        _kill(dbkeeper_mysql_url, victim)
        assert conn.execute("SELECT 1 AS x").scalar() == 1
        assert conn.execute("SELECT CONNECTION_ID() AS id").scalar() != victim
        assert conn.get_stats()["reconnects"] == 1


def test_a_write_on_a_killed_session_is_not_retried_blindly(dbkeeper_mysql_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_mysql_url, pool_size=1, max_overflow=0) as conn:
        conn.execute("CREATE TABLE log (id INT)")
        _kill(dbkeeper_mysql_url, conn.execute("SELECT CONNECTION_ID() AS id").scalar())
        with pytest.raises(ConnectionLostError):
            conn.execute("INSERT INTO log VALUES (1)")
        conn.execute("INSERT INTO log VALUES (2)")
        assert conn.execute("SELECT id FROM log").tuples() == [(2,)]


def test_a_transaction_after_a_killed_session_starts_on_a_fresh_connection(dbkeeper_mysql_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_mysql_url, pool_size=1, max_overflow=0) as conn:
        _kill(dbkeeper_mysql_url, conn.execute("SELECT CONNECTION_ID() AS id").scalar())
        with conn.transaction() as tx:
            assert tx.execute("SELECT 1 AS x").scalar() == 1


def test_health_check_pings_and_notices_a_killed_session(dbkeeper_mysql_url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(dbkeeper_mysql_url, pool_size=1, max_overflow=0) as conn:
        assert conn.health_check()["status"] == "healthy"
        _kill(dbkeeper_mysql_url, conn.execute("SELECT CONNECTION_ID() AS id").scalar())
        assert conn.health_check()["status"] == "unhealthy"
        assert conn.health_check()["status"] == "healthy"


def test_driver_errors_are_classified(dialect: MySQLDialect, raw: Any) -> None:
    err = pymysql.err
    gone = err.OperationalError(2006, "MySQL server has gone away (BrokenPipeError())")
    lost = err.OperationalError(2013, "Lost connection to MySQL server during query")
    killed = err.OperationalError(1927, "Connection was killed")
    idle = err.OperationalError(4031, "The client was disconnected by the server because of inactivity")
    duplicate = err.IntegrityError(1062, "Duplicate entry 'a' for key 'name'")
    for exc in (gone, lost, killed, idle, err.InterfaceError(0, ""), err.Error("Already closed")):
        assert dialect.is_disconnect(exc), exc
    assert not dialect.is_disconnect(duplicate)
    assert not dialect.is_disconnect(ValueError(2006))
    assert [dialect.statement_not_executed(e) for e in (gone, lost, killed, idle, duplicate)] == [
        True, False, False, True, False]
    assert dialect.error_code(duplicate) == "1062"
    assert dialect.error_code(ValueError("x")) is None
    raw.close()
    with pytest.raises(err.InterfaceError) as info:
        raw.cursor().execute("SELECT 1")
    assert dialect.is_disconnect(info.value) and dialect.statement_not_executed(info.value)
