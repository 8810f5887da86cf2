"""Round trips on every dialect with real servers and real tools.

For each dialect and each compression, with and without encryption, the
restored database equals the original (schema and rows). Backups taken
while writers are running restore to a consistent state.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager, EncryptionSettings, RestoreTargetError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.testing.writers import BackgroundWriter
from dbkeeper.urls import DatabaseURL

FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "pass phrase for tests"

SETUP = {
    "sqlite": [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance NUMERIC, blob BLOB)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), note TEXT)",
        "CREATE VIEW rich AS SELECT * FROM customers WHERE balance > 10",
    ],
    "postgres": [
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2), blob bytea)",
        "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), note text)",
        "CREATE VIEW rich AS SELECT * FROM customers WHERE balance > 10",
    ],
    "mysql": [
        "CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, "
        "balance decimal(12,2), `blob` blob)",
        "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, customer_id int, note text, "
        "FOREIGN KEY (customer_id) REFERENCES customers(id))",
        "CREATE VIEW rich AS SELECT * FROM customers WHERE balance > 10",
    ],
}


def fill(url: DatabaseURL, rows: int = 200) -> None:
    with DatabaseConnection.from_url(url) as conn:
        dialect = conn.dialect.name
        for statement in SETUP[dialect]:
            conn.execute(statement)
        conn.bulk_insert("customers", [(f"name {i} 'q' \"dq\" ü", i * 1.25, bytes([i % 256, 0, 255]))
                                       for i in range(1, rows + 1)], ["name", "balance", "blob"])
        conn.bulk_insert("orders", [(1 + i % rows, None if i % 3 else f"note {i}") for i in range(rows)],
                         ["customer_id", "note"])


def state(url: DatabaseURL) -> dict[str, Any]:
    with DatabaseConnection.from_url(url) as conn:
        tables = conn.dialect.table_names(conn)
        data = {t: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r.values())
                    for r in conn.execute(f"SELECT * FROM {conn.dialect.quote_identifier(t)} ORDER BY 1").rows]
                for t in tables}
        rich = conn.execute("SELECT COUNT(*) AS n FROM rich").rows[0]["n"]
        columns = {t.name: [(c.name, str(c.type)) for c in t.columns] for t in conn.introspect()}
    return {"tables": tables, "data": data, "view": rich, "columns": columns}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url



@pytest.fixture
def target(database: DatabaseURL, tmp_path: Path) -> Iterator[DatabaseURL]:
    """A second, empty database of the same dialect."""
    if database.scheme == "sqlite":
        yield DatabaseURL(scheme="sqlite", database=str(tmp_path / "target.db"))
        return
    kind = "postgres" if database.scheme.startswith("postgres") else "mysql"
    with scratch_database(server_url(kind), prefix="dbk_target") as url:
        yield url


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_round_trip_on_every_dialect(database: DatabaseURL, target: DatabaseURL, tmp_path: Path,
                                     compression: str, encrypted: bool) -> None:
    fill(database)
    enc = EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF) if encrypted else None
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", compression=compression, encryption=enc)
    assert result.success, result.error_message
    manager.restore_backup(result.backup_id, target, encryption=enc)
    assert state(target) == state(database)


def test_restore_refuses_non_empty_target_then_replaces_it(database: DatabaseURL, target: DatabaseURL,
                                                           tmp_path: Path) -> None:
    fill(database)
    fill(target, rows=5)
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", compression="zstd")
    with pytest.raises(RestoreTargetError, match="not empty"):
        manager.restore_backup(result.backup_id, target)
    manager.restore_backup(result.backup_id, target, replace=True)
    assert state(target) == state(database)


def test_schema_only_backup_restores_empty_tables(database: DatabaseURL, target: DatabaseURL,
                                                  tmp_path: Path) -> None:
    fill(database)
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", include_data=False)
    manager.restore_backup(result.backup_id, target)
    restored = state(target)
    assert restored["tables"] == state(database)["tables"]
    assert all(rows == [] for rows in restored["data"].values())


def test_deep_verify_restores_into_a_scratch_database(database: DatabaseURL, tmp_path: Path) -> None:
    fill(database)
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", compression="zstd")
    verdict = manager.verify_backup(result.backup_id, "deep")
    assert verdict.success, verdict.error_message
    assert "customers: 200 rows" in verdict.warnings[0]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_backup_while_writers_run_restores_consistently(kind: str, request: pytest.FixtureRequest,
                                                        tmp_path: Path) -> None:
    """Writers insert into two tables in one transaction; every restored snapshot has equal counts."""
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)")
        conn.bulk_insert("a", [(i, "x" * 50) for i in range(5000)], ["id", "v"])
        conn.bulk_insert("b", [(i, "x" * 50) for i in range(5000)], ["id", "v"])
    def insert_pair(conn: DatabaseConnection, i: int) -> None:
        conn.execute("INSERT INTO a (id, v) VALUES (?, ?)", (10_000 + i, "w"))
        conn.execute("INSERT INTO b (id, v) VALUES (?, ?)", (10_000 + i, "w"))

    manager = BackupManager(tmp_path / "ws", url)
    with BackgroundWriter(url, insert_pair) as writer:
        results = []
        for _ in range(2 if kind == "sqlite" else 1):
            writer.wait_for_writes()  # writes are going on when the backup starts
            results.append(manager.create_backup("db", compression="zstd"))
    for n, result in enumerate(results):
        assert result.success, result.error_message
        if kind == "sqlite":
            restored = DatabaseURL(scheme="sqlite", database=str(tmp_path / f"r{n}.db"))
            manager.restore_backup(result.backup_id, restored)
            _assert_consistent(restored)
        else:
            with scratch_database(server_url("postgres"), prefix="dbk_target") as restored:
                manager.restore_backup(result.backup_id, restored)
                _assert_consistent(restored)


def _assert_consistent(url: DatabaseURL) -> None:
    with DatabaseConnection.from_url(url) as conn:
        a = conn.execute("SELECT COUNT(*) AS n FROM a").rows[0]["n"]
        b = conn.execute("SELECT COUNT(*) AS n FROM b").rows[0]["n"]
    assert a == b >= 5000


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_passwords_never_reach_argv_files_or_output(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The test servers trust local connections, so a made-up password is accepted and must stay hidden."""
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{kind}_url")
    secret = "S3cr3t-Pa55word-xyz"
    user = url.username
    if kind == "mysql":
        user = "dbk_secret_test"
        with DatabaseConnection.from_url(url) as admin:
            admin.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            admin.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'")
            admin.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'")
        request.addfinalizer(lambda: _drop_user(url, user or ""))
    with_password = DatabaseURL(scheme=url.scheme, username=user, password=secret, host=url.host,
                                port=url.port, database=url.database)
    fill(url, rows=20)
    seen: list[list[str]] = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            seen.append([str(a) for a in args])
            env = kwargs.get("env") or {}
            assert all(secret not in str(v) for v in env.values() if not str(v).startswith("/"))
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    manager = BackupManager(tmp_path / "ws", with_password)
    result = manager.create_backup("db", compression="zstd")
    assert result.success, result.error_message
    with scratch_database(server_url(kind), prefix="dbk_target") as target:
        target_pw = DatabaseURL(scheme=target.scheme, username=user, password=secret, host=target.host,
                                port=target.port, database=target.database)
        manager.restore_backup(result.backup_id, target_pw)
    print(result, manager.get_backups(), manager.verify_backup(result.backup_id, "full"))
    assert seen and all(secret not in " ".join(argv) for argv in seen)
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _drop_user(url: DatabaseURL, user: str) -> None:
    with DatabaseConnection.from_url(url) as admin:
        admin.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_a_missing_tool_is_a_clear_error(dbkeeper_postgres_url: DatabaseURL, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    manager = BackupManager(tmp_path / "ws", dbkeeper_postgres_url)
    result = manager.create_backup("db")
    assert not result.success
    assert "pg_dump not found" in (result.error_message or "")
    assert "apt-get install postgresql-client" in (result.error_message or "")
    assert manager.get_backups() == []
    assert os.environ["PATH"] == str(tmp_path)


def test_a_tool_older_than_the_server_is_a_clear_error(dbkeeper_postgres_url: DatabaseURL, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = BackupManager(tmp_path / "ws", dbkeeper_postgres_url).create_backup("db")
    assert not result.success
    assert "pg_dump 9 is older than the PostgreSQL" in (result.error_message or "")
    assert "postgresql-client-" in (result.error_message or "")


TABLES_ONLY = {
    "postgres": SETUP["postgres"][:2],
    "mysql": SETUP["mysql"][:2],
    "sqlite": SETUP["sqlite"][:2],
}


def fill_tables(url: DatabaseURL, rows: int = 300) -> None:
    with DatabaseConnection.from_url(url) as conn:
        for statement in TABLES_ONLY[conn.dialect.name]:
            conn.execute(statement)
        conn.bulk_insert("customers", [(f"c{i}", i, b"x") for i in range(1, rows + 1)], ["name", "balance", "blob"])
        conn.bulk_insert("orders", [(1 + i % rows, f"n{i}") for i in range(rows)], ["customer_id", "note"])


def table_state(url: DatabaseURL) -> dict[str, Any]:
    with DatabaseConnection.from_url(url) as conn:
        tables = conn.dialect.table_names(conn)
        return {t: conn.execute(f"SELECT COUNT(*) AS n FROM {conn.dialect.quote_identifier(t)}").rows[0]["n"]
                for t in tables}


def test_tables_only_dump_is_swapped_in_with_foreign_keys(database: DatabaseURL, target: DatabaseURL,
                                                          tmp_path: Path) -> None:
    fill_tables(database)
    fill_tables(target, rows=3)
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", compression="zstd")
    manager.restore_backup(result.backup_id, target, replace=True)
    assert table_state(target) == table_state(database) == {"customers": 300, "orders": 300}


def test_a_restore_that_fails_part_way_leaves_the_target_as_it_was(database: DatabaseURL, target: DatabaseURL,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream breaks after the first chunk: the target keeps its old tables and rows."""
    import dbkeeper.backup.manager as manager_module
    from dbkeeper.backup import CorruptBackupError

    fill_tables(database, rows=2000)
    fill_tables(target, rows=3)
    before = table_state(target)
    manager = BackupManager(tmp_path / "ws", database)
    result = manager.create_backup("db", compression="zstd", chunk_size=4096)
    real = manager_module.plain_chunks

    def breaking(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        chunks = real(*args, **kwargs)
        yield next(chunks)
        raise CorruptBackupError("simulated damage after the first chunk")

    monkeypatch.setattr(manager_module, "plain_chunks", breaking)
    with pytest.raises(Exception, match=r"simulated damage|failed"):
        manager.restore_backup(result.backup_id, target, replace=True)
    assert table_state(target) == before
