"""PostgreSQL ``restore --replace`` keeps the target's name holding old or new data, and finds its leftovers.

Against the real shared server: a session on the scratch copy (which made
the old drop-then-rename lose the target), sessions on the target, leftovers
by their fixed names (and nothing else), owners and grants kept with real
roles, missing roles refused before anything changes, ``--portable``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.backup.errors import RestoreTargetError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.pytest_plugin import require_server
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL

ROWS = 60_000


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    require_server("postgres")


def _conninfo(url: DatabaseURL, database: str | None = None) -> str:
    return f"host={url.host} port={url.port or 5432} user={url.username} dbname='{database or url.database}'"


def _run(url: DatabaseURL, *statements: str) -> None:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _value(url: DatabaseURL, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def _databases_like(prefix: str) -> list[str]:
    admin = server_url("postgres")
    with psycopg.connect(_conninfo(admin, "postgres"), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY datname",
                            (prefix,)).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def source() -> Iterator[DatabaseURL]:
    with scratch_database(server_url("postgres"), prefix="dbk_atsrc") as url:
        _run(url, "CREATE TABLE t (id integer PRIMARY KEY, pad text)",
             f"INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g")
        yield url


@pytest.fixture
def target() -> Iterator[DatabaseURL]:
    with scratch_database(server_url("postgres"), prefix="dbk_atdst") as url:
        _run(url, "CREATE TABLE old_rows (id integer PRIMARY KEY)", "INSERT INTO old_rows VALUES (1), (2), (3)")
        yield url
        for name in _databases_like(f"{url.database}_dbk_"):
            _run(server_url("postgres").with_database("postgres"), f'DROP DATABASE "{name}" WITH (FORCE)')


def _backup(tmp_path: Path, url: DatabaseURL, **kwargs: Any) -> tuple[BackupManager, str]:
    manager = BackupManager(tmp_path / "ws", url)
    result = manager.create_backup("src", compression="zstd", chunk_size=64 << 10, **kwargs)
    assert result.success, result.error_message
    return manager, result.backup_id


@pytest.mark.parametrize("chainable", [False, True], ids=["pg_dump", "ordered"])
def test_a_session_on_the_scratch_copy_does_not_lose_the_target(source: DatabaseURL, target: DatabaseURL,
                                                               tmp_path: Path, chainable: bool) -> None:
    manager, backup_id = _backup(tmp_path, source, chainable=chainable)
    scratch_prefix = f"{target.database}_dbk_restore_"
    held: list[psycopg.Connection[Any]] = []

    def sit_on_scratch(_done: int) -> None:
        if held:
            return
        names = _databases_like(scratch_prefix)
        if names:
            held.append(psycopg.connect(_conninfo(target, names[0]), autocommit=True))

    on_target = psycopg.connect(_conninfo(target))
    on_target.execute("SELECT count(*) FROM old_rows")  # an open transaction on the old target
    try:
        result = manager.restore_backup(backup_id, target, replace=True, progress=sit_on_scratch)
    finally:
        for conn in [*held, on_target]:
            conn.close()
    assert held, "the test never got a session onto the scratch copy"
    assert result.success
    assert _value(target, "SELECT count(*) FROM t") == ROWS
    assert _value(target, "SELECT to_regclass('old_rows') IS NULL") is True
    assert _databases_like(f"{target.database}_dbk_") == [], "no scratch or aside copy is left"


def test_leftovers_are_found_by_their_exact_pattern_only(source: DatabaseURL, target: DatabaseURL,
                                                         tmp_path: Path) -> None:
    admin = server_url("postgres").with_database("postgres")
    name = target.database or ""
    leftover = f"{name}_dbk_restore_0123abcd"
    aside = f"{name}_dbk_aside_89abcdef"
    running = f"{name}_dbk_restore_feedf00d"
    lookalikes = [f"{name}_dbk_restore_backup", f"{name}_dbk_aside_0123abcd_x", f"{name}x_dbk_restore_0123abcd"]
    for db in [leftover, aside, running, *lookalikes]:
        _run(admin, f'CREATE DATABASE "{db}"')
    holder = psycopg.connect(_conninfo(admin), autocommit=True)  # a restore in progress holds its name
    try:
        holder.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (0x64626B72, running))
        with DatabaseConnection.from_url(target, name="t", max_retries=0) as conn:
            dialect = conn.dialect
            assert dialect.restore_leftovers(conn) == [leftover, aside]
            for other in [*lookalikes, running, "postgres", name]:
                with pytest.raises(RestoreTargetError, match="nothing was dropped"):
                    dialect.remove_restore_leftover(conn, other)
        for db in [*lookalikes, running]:
            assert db in _databases_like(db), f"{db} must not be touched"
        manager, backup_id = _backup(tmp_path, source)
        result = manager.restore_backup(backup_id, target, replace=True)
        assert any(leftover in w and aside in w and "leftovers --remove" in w for w in result.warnings), \
            result.warnings
        with DatabaseConnection.from_url(target, name="t", max_retries=0) as conn:
            conn.dialect.remove_restore_leftover(conn, leftover)
            assert conn.dialect.restore_leftovers(conn) == [aside]
    finally:
        holder.close()
        for db in [*lookalikes, running]:
            _run(admin, f'DROP DATABASE IF EXISTS "{db}"')


@pytest.fixture
def roles(source: DatabaseURL, target: DatabaseURL) -> Iterator[dict[str, str]]:
    """Three unique roles, dropped afterwards with what they own in the test's two databases."""
    tag = secrets.token_hex(4)
    names = {"owner": f"dbk_owner_{tag}", "app": f"dbk_app_{tag}", "gone": f"dbk_gone_{tag}"}
    admin = server_url("postgres").with_database("postgres")
    for role in names.values():
        _run(admin, f'CREATE ROLE "{role}"')
    yield names
    for role in names.values():
        if _value(admin, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)):
            for url in (source, target):
                _run(admin, f'ALTER DATABASE "{url.database}" OWNER TO CURRENT_USER')
                _run(url, f'DROP OWNED BY "{role}"')
            _run(admin, f'DROP ROLE "{role}"')


def _privileges(url: DatabaseURL, roles: dict[str, str]) -> dict[str, Any]:
    return {
        "owner": _value(url, "SELECT tableowner FROM pg_tables WHERE tablename = 't'"),
        "app_select": _value(url, "SELECT has_table_privilege(%s, 'public.t', 'SELECT')", (roles["app"],)),
        "app_insert": _value(url, "SELECT has_table_privilege(%s, 'public.t', 'INSERT')", (roles["app"],)),
        "app_schema_create": _value(url, "SELECT has_schema_privilege(%s, 'public', 'CREATE')", (roles["app"],)),
    }


@pytest.mark.parametrize("chainable", [False, True], ids=["pg_dump", "ordered"])
def test_owners_and_grants_are_kept_by_default(source: DatabaseURL, target: DatabaseURL, tmp_path: Path,
                                               roles: dict[str, str], chainable: bool) -> None:
    _run(source, f'ALTER TABLE t OWNER TO "{roles["owner"]}"', f'GRANT SELECT ON t TO "{roles["app"]}"',
         f'GRANT CREATE ON SCHEMA public TO "{roles["app"]}"')
    before = _privileges(source, roles)
    assert before == {"owner": roles["owner"], "app_select": True, "app_insert": False, "app_schema_create": True}
    manager, backup_id = _backup(tmp_path, source, chainable=chainable)
    manager.restore_backup(backup_id, target, replace=True)
    assert _privileges(target, roles) == before
    assert _value(target, "SELECT count(*) FROM t") == ROWS


@pytest.mark.parametrize("chainable", [False, True], ids=["pg_dump", "ordered"])
def test_missing_roles_are_named_before_anything_changes(source: DatabaseURL, target: DatabaseURL, tmp_path: Path,
                                                         roles: dict[str, str], chainable: bool) -> None:
    _run(source, f'ALTER TABLE t OWNER TO "{roles["gone"]}"', f'GRANT SELECT ON t TO "{roles["app"]}"')
    manager, backup_id = _backup(tmp_path, source, chainable=chainable)
    _run(source, f'ALTER TABLE t OWNER TO "{roles["owner"]}"')
    _run(server_url("postgres").with_database("postgres"), f'DROP ROLE "{roles["gone"]}"')
    with pytest.raises(RestoreTargetError) as caught:
        manager.restore_backup(backup_id, target, replace=True)
    message = str(caught.value)
    assert roles["gone"] in message and "--portable" in message
    assert roles["app"] not in message.partition("(it uses")[0], "only the missing roles are listed as missing"
    assert _value(target, "SELECT count(*) FROM old_rows") == 3, "the target is unchanged"
    assert _databases_like(f"{target.database}_dbk_") == []
    manager.restore_backup(backup_id, target, replace=True, portable=True)
    assert _value(target, "SELECT count(*) FROM t") == ROWS
    assert _value(target, "SELECT tableowner FROM pg_tables WHERE tablename = 't'") == server_url("postgres").username
    assert _value(target, "SELECT has_table_privilege(%s, 'public.t', 'SELECT')", (roles["app"],)) is False


def _database_properties(url: DatabaseURL, roles: dict[str, str]) -> dict[str, Any]:
    admin = server_url("postgres").with_database("postgres")
    query = ("SELECT pg_get_userbyid(d.datdba), shobj_description(d.oid, 'pg_database'), "
             "has_database_privilege(%s, d.oid, 'CONNECT'), has_database_privilege('public', d.oid, 'CONNECT'), "
             "(SELECT array_agg(c ORDER BY c) FROM pg_db_role_setting s, unnest(s.setconfig) c "
             " WHERE s.setdatabase = d.oid AND s.setrole = 0), "
             "(SELECT array_agg(c ORDER BY c) FROM pg_db_role_setting s, unnest(s.setconfig) c "
             " WHERE s.setdatabase = d.oid AND s.setrole <> 0) "
             "FROM pg_database d WHERE d.datname = %s")
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        row = conn.execute(query, (roles["app"], url.database)).fetchone()
    assert row is not None
    keys = ("owner", "comment", "app_connect", "public_connect", "settings", "role_settings")
    return dict(zip(keys, row, strict=True))


def test_the_replaced_targets_owner_grants_settings_and_comment_are_kept(
        source: DatabaseURL, target: DatabaseURL, tmp_path: Path, roles: dict[str, str]) -> None:
    name = target.database
    _run(server_url("postgres").with_database("postgres"),
         f'ALTER DATABASE "{name}" OWNER TO "{roles["owner"]}"',
         f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC',
         f'GRANT CONNECT ON DATABASE "{name}" TO "{roles["app"]}"',
         f'ALTER DATABASE "{name}" SET search_path TO "$user", public, "odd ""name"""',
         f'ALTER DATABASE "{name}" SET work_mem TO \'12MB\'',
         f'ALTER ROLE "{roles["app"]}" IN DATABASE "{name}" SET statement_timeout TO \'5s\'',
         f'COMMENT ON DATABASE "{name}" IS \'the app\'\'s data\'')
    before = _database_properties(target, roles)
    assert before["owner"] == roles["owner"] and before["app_connect"] and not before["public_connect"]
    manager, backup_id = _backup(tmp_path, source)
    manager.restore_backup(backup_id, target, replace=True, portable=True)
    assert _value(target, "SELECT count(*) FROM t") == ROWS
    assert _database_properties(target, roles) == before


def test_a_failed_swap_puts_the_names_back_and_says_the_target_is_unchanged(
        source: DatabaseURL, target: DatabaseURL, tmp_path: Path) -> None:
    admin = server_url("postgres").with_database("postgres")
    restorer = f"dbk_restorer_{secrets.token_hex(4)}"
    _run(admin, f'CREATE ROLE "{restorer}" LOGIN CREATEDB', f'ALTER DATABASE "{target.database}" OWNER TO "{restorer}"')
    # A superuser's session on the target: the restoring role may not end it, so the swap fails part-way.
    superuser_session = psycopg.connect(_conninfo(target), autocommit=True)
    try:
        manager, backup_id = _backup(tmp_path, source)
        as_restorer = DatabaseURL(scheme="postgresql", username=restorer, host=target.host, port=target.port,
                                  database=target.database)
        with pytest.raises(RestoreTargetError, match="still holds its old data"):
            manager.restore_backup(backup_id, as_restorer, replace=True, portable=True)
        assert _value(target, "SELECT count(*) FROM old_rows") == 3
        assert _databases_like(f"{target.database}_dbk_") == [], "the scratch copy is dropped, no aside copy made"
    finally:
        superuser_session.close()
        _run(admin, f'ALTER DATABASE "{target.database}" OWNER TO CURRENT_USER')
        for name in _databases_like(f"{target.database}_dbk_"):
            _run(admin, f'DROP DATABASE "{name}" WITH (FORCE)')
        _run(admin, f'DROP ROLE "{restorer}"')


def _wait_for_no_copies(target: DatabaseURL, timeout: float = 60.0) -> list[str]:
    import time

    deadline = time.monotonic() + timeout
    while (left := _databases_like(f"{target.database}_dbk_")) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_cli_replace_answers_with_the_new_data_and_drops_the_aside_copy_after(
        source: DatabaseURL, target: DatabaseURL, tmp_path: Path) -> None:
    """``backup restore --replace`` from the CLI: the new data is in place when it exits; the old copy goes after."""
    import os
    import subprocess
    import sys

    manager = BackupManager(tmp_path, source)
    backup_id = manager.create_backup("atomic").backup_id
    env = {**os.environ, "DBKEEPER_WORKSPACE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "dbkeeper.cli", "backup", "restore", backup_id,
                           "--to", target.render(hide_password=False), "--replace", "--json"],
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _value(target, "SELECT count(*) FROM t") == ROWS, "the new data is committed before the command exits"
    assert _value(target, "SELECT to_regclass('old_rows') IS NULL") is True
    assert _wait_for_no_copies(target) == [], "the detached child dropped the aside copy"


def test_detached_drop_refuses_a_name_that_is_not_an_aside_copy(target: DatabaseURL) -> None:
    """The child drops only ``<target>_dbk_(restore|aside)_<hex>``: given the target's own name it drops nothing."""
    import json
    import subprocess
    import sys

    request = json.dumps({"url": target.render(hide_password=False)}) + f"\n{target.database}\n"
    done = subprocess.run([sys.executable, "-m", "dbkeeper_postgres._drop_aside"], input=request, check=False,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "not an aside copy" in done.stderr
    assert _value(target, "SELECT count(*) FROM old_rows") == 3


def test_a_failed_detached_drop_leaves_a_named_leftover(source: DatabaseURL, target: DatabaseURL,
                                                        tmp_path: Path) -> None:
    """A child that cannot connect (wrong port) leaves the aside copy, which the next restore names."""
    import json
    import subprocess
    import sys

    aside = f"{target.database}_dbk_aside_0badc0de"
    _run(server_url("postgres").with_database("postgres"), f'CREATE DATABASE "{aside}"')
    request = json.dumps({"url": target.render(hide_password=False).replace(f":{target.port or 5432}/", ":1/")})
    request += f"\n{aside}\n"
    done = subprocess.run([sys.executable, "-m", "dbkeeper_postgres._drop_aside"], input=request, check=False,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert _databases_like(f"{target.database}_dbk_") == [aside]
    manager = BackupManager(tmp_path, source)
    result = manager.restore_backup(manager.create_backup("atomic").backup_id, target, replace=True)
    assert any(aside in w and "leftovers --remove" in w for w in result.warnings), result.warnings
