"""Redis specifics beyond the conformance suite, against the real server: URLs, commands, health, introspection."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.engine.plugins import get_registry
from dbkeeper.errors import ClosedError, ConfigurationError, QueryError
from dbkeeper.monitoring.native import collect_native
from dbkeeper.urls import DatabaseURL
from dbkeeper_redis import RedisDialect
from dbkeeper_redis._conninfo import connect_kwargs
from dbkeeper_redis.command import StatementError, tokenize
from dbkeeper_redis.introspect import pattern_of
from dbkeeper_redis.scratch import MARKER_KEY

SECRET = "Rd-S3cr@t:p/w%rd"


@pytest.fixture
def db(redis_url: DatabaseURL) -> Iterator[DatabaseConnection]:
    conn = DatabaseConnection.from_url(redis_url, name="redis", pool_size=2, max_overflow=0, pool_timeout=2.0)
    conn.connect()
    try:
        yield conn
    finally:
        conn.disconnect()


def raw_client(url: DatabaseURL) -> redis.Redis:
    """A plain redis-py client on the database a (possibly scratch-named) URL resolves to."""
    conn = RedisDialect().connect(url)
    return conn.client  # type: ignore[no-any-return]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dbkeeper")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBKEEPER_URL")}
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, env=env, check=False)


# -- URLs -----------------------------------------------------------------------------------------
def test_the_plugin_is_found_through_its_entry_point_and_serves_both_schemes() -> None:
    registry = get_registry()
    info = next(p for p in registry.plugins() if p.name == "redis")
    assert info.status == "loaded" and info.distribution == "dbkeeper-redis"
    assert registry.dialect_for_url(DatabaseURL.parse("redis://h/0")).name == "redis"
    assert registry.dialect_for_url(DatabaseURL.parse("rediss://h/0")).name == "redis"
    caps = info.dialects[0]["capabilities"]
    assert caps["sql"] is False and caps["dump"] is True and caps["transactions"] is False


def test_url_parts_become_redis_py_keyword_arguments() -> None:
    url = DatabaseURL.parse(f"redis://app:{quote(SECRET, safe='')}@cache.internal:6380/4?client_name=web")
    kwargs = connect_kwargs(url, db=4, timeout=3.0)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6380, 4)
    assert kwargs["username"] == "app" and kwargs["password"] == SECRET
    assert kwargs["client_name"] == "web" and kwargs["socket_connect_timeout"] == 3.0
    assert "ssl" not in kwargs
    assert SECRET not in repr(url) and SECRET not in str(url)


def test_a_password_without_user_uses_the_default_user() -> None:
    kwargs = connect_kwargs(DatabaseURL.parse("redis://:pw@h:6379/0"), db=0, timeout=None)
    assert kwargs["username"] is None and kwargs["password"] == "pw"


def test_rediss_turns_tls_on_with_its_options() -> None:
    url = DatabaseURL.parse("rediss://h:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=false")
    kwargs = connect_kwargs(url, db=0, timeout=None)
    assert kwargs["ssl"] is True and kwargs["ssl_cert_reqs"] == "none"
    assert kwargs["ssl_ca_certs"] == "/etc/ca.pem" and kwargs["ssl_check_hostname"] is False


@pytest.mark.parametrize(("query", "message"), [
    ("password=x", "user-info"),
    ("colour=blue", "unknown redis URL option 'colour'"),
    ("ssl_ca_certs=/ca.pem", "rediss://"),
    ("socket_timeout=soon", "not a number"),
])
def test_bad_url_options_are_refused_with_what_to_do(query: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        connect_kwargs(DatabaseURL.parse(f"redis://h/0?{query}"), db=0, timeout=None)


def test_a_database_that_is_neither_a_number_nor_claimed_is_a_clear_error(redis_admin_url: DatabaseURL) -> None:
    conn = DatabaseConnection.from_url(redis_admin_url.with_database("nonexistent_scratch"), max_retries=0)
    with pytest.raises(ConfigurationError, match="neither a database number"):
        conn.connect()


# -- commands ---------------------------------------------------------------------------------------
def test_commands_bind_parameters_as_separate_arguments() -> None:
    assert tokenize("SET ? ?", ("k", "v w")) == ["SET", "k", "v w"]
    assert tokenize("HSET h :f '?' \"a\\x41\\n\"", {"f": "field"}) == ["HSET", "h", "field", b"?", b"aA\n"]
    with pytest.raises(StatementError, match="more parameters"):
        tokenize("GET ?", ("a", "b"))
    with pytest.raises(StatementError, match="bad quoting"):
        tokenize('GET "open', None)


def test_execute_runs_redis_commands_and_returns_rows(db: DatabaseConnection) -> None:
    hostile = "'; FLUSHALL; -- \" \\ % ? :name ünï 🐘"
    db.execute("SET ? ?", ("greeting", hostile))
    assert db.execute("GET greeting").scalar() == hostile
    db.execute("HSET user:1 name :name age 36", {"name": "Ada"})
    assert {r["field"]: r["value"] for r in db.execute("HGETALL user:1").rows} == {"name": "Ada", "age": "36"}
    db.execute("RPUSH q a b c")
    assert [r["value"] for r in db.execute("LRANGE q 0 -1")] == ["a", "b", "c"]
    db.execute("SET bin ?", (b"\xff\x00\xfe",))
    assert db.execute("GET bin").scalar() == b"\xff\x00\xfe"


@pytest.mark.parametrize("statement", ["SELECT 2", "MULTI", "BEGIN", "SUBSCRIBE news", "AUTH x y"])
def test_state_changing_commands_are_refused(db: DatabaseConnection, statement: str) -> None:
    with pytest.raises(QueryError, match="not available through dbkeeper"):
        db.execute(statement)
    assert db.execute("PING").scalar() == "PONG"


def test_transactions_are_refused_with_a_typed_error(db: DatabaseConnection) -> None:
    with pytest.raises(QueryError, match="no SQL transactions"), db.transaction():
        pass


def test_a_redis_error_is_a_query_error_with_its_code(db: DatabaseConnection) -> None:
    db.execute("SET s 1")
    with pytest.raises(QueryError, match="WRONGTYPE") as info:
        db.execute("LPUSH s x")
    assert info.value.sqlstate == "WRONGTYPE"
    assert db.execute("PING").scalar() == "PONG"


def test_a_killed_connection_is_replaced_and_the_command_retried(db: DatabaseConnection,
                                                                 redis_url: DatabaseURL) -> None:
    victim = db.execute("CLIENT ID").scalar()
    admin = DatabaseConnection.from_url(redis_url, name="admin", pool_size=1).connect()
    try:
        assert admin.execute("CLIENT KILL ID ?", (victim,)).scalar() == 1
    finally:
        admin.disconnect()
    assert db.execute("PING").scalar() == "PONG"
    assert db.get_stats()["reconnects"] >= 1
    assert db.execute("CLIENT ID").scalar() != victim


def test_a_closed_connection_refuses_commands(redis_url: DatabaseURL) -> None:
    conn = DatabaseConnection.from_url(redis_url).connect()
    conn.disconnect()
    with pytest.raises(ClosedError):
        conn.execute("PING")


# -- health, introspection, metrics -------------------------------------------------------------------
def test_health_reports_latency_version_and_role(db: DatabaseConnection) -> None:
    report = db.health_check()
    assert report["status"] == "healthy" and report["dialect"] == "redis"
    assert report["latency_ms"] >= 0
    assert "master" in report["server_version"] or "slave" in report["server_version"]


def test_key_patterns_stand_in_for_tables() -> None:
    assert pattern_of(b"user:42:profile") == "user:*:profile"
    assert pattern_of(b"session:9f2c1e0a5b7d4c3e") == "session:*"
    assert pattern_of(b"config") == "config"
    assert pattern_of(b"weird*key") == "weird\\*key"


def fill_sample(client: redis.Redis) -> None:
    for i in range(30):
        client.set(f"user:{i}", f"name {i}", ex=1000 if i % 2 else None)
    client.hset("user:1:profile", mapping={"a": "1"})
    client.rpush("queue:jobs", "a", "b")
    client.zadd("board", {"x": 1.0})
    client.sadd("tags", "a")
    client.xadd("events", {"k": "v"})


def test_tables_and_describe_show_types_counts_memory_and_ttls(db: DatabaseConnection,
                                                               redis_url: DatabaseURL) -> None:
    fill_sample(raw_client(redis_url))
    assert db.get_tables() == ["board", "events", "queue:jobs", "tags", "user:*", "user:*:profile"]
    info = db.get_table_info("user:*")
    assert info["row_count"] == 31  # the glob user:* also matches user:1:profile
    assert info["extra"]["types"] == {"hash": 1, "string": 30}
    assert info["extra"]["keys_with_ttl"] == 15
    assert info["extra"]["memory_bytes"] > 0
    assert [c["name"] for c in info["columns"]] == ["hash", "string"]
    whole = db.get_table_info("*")
    assert whole["row_count"] == 35
    assert set(whole["extra"]["types"]) == {"hash", "list", "set", "stream", "string", "zset"}
    assert whole["extra"]["patterns"]["user:*"] == 30
    with pytest.raises(QueryError, match="no such table 'ghost'"):
        db.get_table_info("ghost")


def test_the_scratch_marker_is_invisible(db: DatabaseConnection, redis_url: DatabaseURL) -> None:
    client = raw_client(redis_url)
    assert client.get(MARKER_KEY) is not None  # this test's database is a claimed scratch one
    assert db.get_tables() == []
    assert db.execute('SELECT COUNT(*) AS n FROM "*"').scalar() == 0


def test_metrics_come_from_info(db: DatabaseConnection, redis_url: DatabaseURL) -> None:
    fill_sample(raw_client(redis_url))
    db.execute("GET user:1")
    db.execute("GET missing")
    metrics = collect_native(db)
    assert metrics["supported"] is True
    assert metrics["connections_active"] >= 1
    assert 0.0 <= metrics["cache_hit_ratio"] <= 1.0
    assert metrics["used_memory"] > 0 and metrics["ops_per_sec"] is not None
    assert metrics["keys"] == 36  # 35 keys + the scratch marker, as INFO counts them
    assert metrics["role"] == "master"
    assert set(metrics["counters"]) >= {"keyspace_hits", "keyspace_misses", "total_commands_processed"}
    assert all(isinstance(metrics[name], int) for name in metrics["counters"])
    assert metrics["reset_marker"] and metrics["uptime"] >= 0
    if metrics["memory_used_ratio"] is None:
        assert "maxmemory" in metrics["unavailable"]["memory_used_ratio"]


# -- the CLI and secrets ---------------------------------------------------------------------------------
def test_the_cli_checks_health_and_describes_keys(redis_url: DatabaseURL) -> None:
    fill_sample(raw_client(redis_url))
    health = run_cli("health", "--db", redis_url.render(), "--json")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["status"] == "healthy"
    tables = run_cli("tables", "--db", redis_url.render())
    assert "user:*" in tables.stdout.splitlines()
    described = run_cli("describe", "user:*", "--db", redis_url.render())
    assert described.returncode == 0, described.stderr
    assert "string" in described.stdout and "30 keys" in described.stdout


@pytest.fixture
def acl_user(redis_admin_url: DatabaseURL) -> Iterator[str]:
    """A Redis ACL user with the password SECRET, deleted afterwards."""
    client = raw_client(redis_admin_url)
    name = f"dbk_test_{secrets.token_hex(4)}"
    client.execute_command("ACL", "SETUSER", name, "on", f">{SECRET}", "~*", "&*", "+@all")
    try:
        yield name
    finally:
        client.execute_command("ACL", "DELUSER", name)
        client.close()


def test_a_password_never_appears_in_output(redis_url: DatabaseURL, acl_user: str, capfd: pytest.CaptureFixture[str],
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="dbkeeper")
    url = DatabaseURL(scheme="redis", username=acl_user, password=SECRET, host=redis_url.host, port=redis_url.port,
                      database=redis_url.database)
    texts = [repr(url), str(url)]
    conn = DatabaseConnection.from_url(url, name="secretive")
    with conn:
        texts += [repr(conn), repr(conn.get_database_info()), repr(conn.health_check())]
        conn.execute("SET counter ?", ("not a number",))
        with pytest.raises(QueryError) as info:
            conn.execute("INCR counter")
        texts.append(str(info.value))
    wrong = DatabaseURL(scheme="redis", username=acl_user, password=SECRET + "x", host=redis_url.host,
                        port=redis_url.port, database="0")
    with pytest.raises(Exception) as failed:  # noqa: PT011 - any error, as long as it is clean
        DatabaseConnection.from_url(wrong, max_retries=0).connect()
    texts += [str(failed.value), repr(failed.value)]
    rendered = url.render(hide_password=False)
    for args in (("health", "--db", rendered, "--json"), ("tables", "--db", rendered),
                 ("describe", "*", "--db", rendered), ("query", "GET nothing", "--db", rendered),
                 ("health", "--db", wrong.render(hide_password=False))):
        result = run_cli(*args)
        texts += [result.stdout, result.stderr]
    texts.append(caplog.text)
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    everything = "\n".join(texts)
    for form in (SECRET, quote(SECRET, safe=""), quote(SECRET)):
        assert form not in everything
    assert "healthy" in everything


def test_commands_and_info_metrics_reach_the_same_monitor_report(db: DatabaseConnection, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor, optimize_database
    from dbkeeper.monitoring.recorder import get_recorder

    get_recorder().flush()  # statements of earlier tests go where they belong, not into this report
    monkeypatch.setenv("DBKEEPER_WORKSPACE", str(tmp_path))
    for i in range(10):
        db.execute("SET ? ?", (f"monitored:{i}", "v"))
        assert db.execute("GET ?", (f"monitored:{i}",)).rows
    get_recorder().flush()

    report = DatabasePerformanceMonitor(tmp_path).get_performance_report("redis", connection=db)
    shapes = {q["fingerprint"]: q["calls"] for q in report["query_performance"]["top_by_total_time"]}
    assert shapes == {"SET ? ?": 10, "GET ?": 10}  # recorded through the core's hot path, values normalised away
    metrics = report["database_performance"]["metrics"]
    assert 0.0 <= metrics["cache_hit_ratio"] <= 1.0 and metrics["connections_active"] >= 1
    native = report["database_performance"]["native"]
    assert native["role"] == "master" and native["keyspace_hits"] >= 10  # from INFO
    assert "connections_idle" in metrics["unavailable"]  # not a made-up number
    assert isinstance(optimize_database("redis", tmp_path, connection=db)["recommendations"], list)
