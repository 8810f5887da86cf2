"""Client tools get only the environment they need (issue 24).

Every tool dbkeeper runs (pg_dump, pg_restore, mariadb-dump, mariadb,
mariadb-binlog, and their ``--version`` probes) is replaced on ``PATH`` by a
wrapper that records its environment and then runs the real tool, so the
backups and restores below are real; the test then reads what each child
saw. The backup passphrase and key, and any other variable of the parent,
must be absent; what the tool needs (PATH, its ``PG*`` variables, the 0600
option or password file) must be there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager, EncryptionSettings
from dbkeeper.child_env import child_environment
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing import private_servers
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql import incremental
from dbkeeper_postgres._client_tools import client_tool

FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "child environment passphrase"
CANARY = "DBKEEPER_TEST_CANARY_TOKEN"
SECRETS = {"DBKEEPER_BACKUP_PASSPHRASE": PASSPHRASE, "DBKEEPER_BACKUP_KEY": "ab" * 32, CANARY: "canary-value-24",
           "AWS_SECRET_ACCESS_KEY": "aws-secret-24"}
TOOLS = ("pg_dump", "pg_restore", "psql", "mariadb", "mariadb-dump", "mariadb-binlog", "mysql", "mysqldump",
         "mysqlbinlog")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Wrap every client tool on PATH; yield the directory where each run leaves ``<tool>.<pid>.env``."""
    log = tmp_path / "envs"
    bin_dir = tmp_path / "bin"
    log.mkdir()
    bin_dir.mkdir()
    for name in TOOLS:
        real = shutil.which(name)
        if real is None:
            continue
        if name.startswith("pg_") or name == "psql":
            real = client_tool(name, "")
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nenv > "{log}/{name}.$$.env"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return log


def environments(log: Path) -> dict[str, list[dict[str, str]]]:
    seen: dict[str, list[dict[str, str]]] = {}
    for path in sorted(log.glob("*.env")):
        pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
        seen.setdefault(path.name.split(".")[0], []).append({k: v for k, _, v in pairs})
    return seen


def assert_clean(seen: dict[str, list[dict[str, str]]], expected_tools: set[str]) -> None:
    assert expected_tools <= set(seen), sorted(seen)
    for tool, envs in seen.items():
        for env in envs:
            leaked = sorted(set(SECRETS) & set(env)) + sorted(k for k, v in env.items() if v in SECRETS.values())
            assert not leaked, f"{tool} saw {leaked}"
            assert env.get("PATH") == os.environ["PATH"], tool


def encryption() -> EncryptionSettings:
    return EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF)


def fill(url: DatabaseURL, rows: int = 200) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(20))")
        conn.bulk_insert("t", [(i, f"v{i}") for i in range(rows)], ["id", "v"])
        if rows > incremental.RANGE_ROWS:
            conn.execute("ANALYZE TABLE t")


def count(url: DatabaseURL) -> int:
    with DatabaseConnection.from_url(url) as conn:
        return int(conn.execute("SELECT COUNT(*) AS n FROM t").rows[0]["n"])


def test_postgres_tools_see_only_their_own_variables(recorded: Path, dbkeeper_postgres_url: DatabaseURL,
                                                     tmp_path: Path) -> None:
    url = dbkeeper_postgres_url
    fill(url)
    manager = BackupManager(tmp_path / "ws", url)
    native = manager.create_backup("app", encryption=encryption())
    ordered = manager.create_backup("app", encryption=encryption(), chainable=True)
    assert native.success and ordered.success, (native.error_message, ordered.error_message)
    for result in (native, ordered):
        with scratch_database(server_url("postgres"), prefix="dbk_env") as target:
            manager.restore_backup(result.backup_id, target, encryption=encryption())
            assert count(target) == 200
    seen = environments(recorded)
    assert_clean(seen, {"pg_dump", "pg_restore"})
    dumps = [env for env in seen["pg_dump"] if "PGHOST" in env]
    assert dumps and all(env["PGHOST"] == url.host and env["PGDATABASE"] == url.database for env in dumps)


def test_mariadb_tools_see_only_their_own_variables(recorded: Path, dbkeeper_mysql_url: DatabaseURL,
                                                    tmp_path: Path) -> None:
    url = dbkeeper_mysql_url
    fill(url)
    manager = BackupManager(tmp_path / "ws", url)
    native = manager.create_backup("app", encryption=encryption())
    ordered = manager.create_backup("app", encryption=encryption(), chainable=True, workers=2)
    assert native.success and ordered.success, (native.error_message, ordered.error_message)
    for result in (native, ordered):
        with scratch_database(server_url("mysql"), prefix="dbk_env") as target:
            manager.restore_backup(result.backup_id, target, encryption=encryption())
            assert count(target) == 200
    seen = environments(recorded)
    assert_clean(seen, {"mariadb-dump", "mariadb"})


@pytest.fixture(scope="module")
def private_mariadb_binlog_server() -> Iterator[private_servers.PrivateServer]:
    """A private MariaDB with a row-based binary log (the shared server has none and must not be restarted)."""
    from dbkeeper_mysql.provision import MARIADB_BINLOG_OPTIONS, MARIADB_OPTIONS

    try:
        server = private_servers.start_mariadb(options=(*MARIADB_OPTIONS, *MARIADB_BINLOG_OPTIONS))
    except private_servers.PrivateServerUnavailable as exc:
        unavailable(f"private server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


def test_the_binlog_reader_sees_only_its_own_variables(
        recorded: Path, private_mariadb_binlog_server: private_servers.PrivateServer, tmp_path: Path) -> None:
    with scratch_database(private_mariadb_binlog_server.url, prefix="dbk_env") as url:
        fill(url, incremental.RANGE_ROWS + 1000)  # key ranges, so the incremental asks the binary log
        manager = BackupManager(tmp_path / "ws", url)
        full = manager.create_backup("app", encryption=encryption(), chainable=True)
        assert full.success, full.error_message
        with DatabaseConnection.from_url(url) as conn:
            conn.execute("UPDATE t SET v = 'changed' WHERE id = 7")
        inc = manager.create_backup("app", backup_type="incremental", encryption=encryption())
        assert inc.success, inc.error_message
    assert_clean(environments(recorded), {"mariadb-dump", "mariadb-binlog"})


def test_child_environment_is_an_allowlist() -> None:
    parent = {"PATH": "/bin", "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC", "HOME": "/h",
              "DBKEEPER_BACKUP_PASSPHRASE": "x", "PGPASSWORD": "pw", "MYSQL_PWD": "pw", "PGSSLROOTCERT": "/ca.pem"}
    env = child_environment({"PGHOST": "db"}, parent=parent)
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC", "HOME": "/h",
                   "PGSSLROOTCERT": "/ca.pem", "PGHOST": "db"}
