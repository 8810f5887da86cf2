"""Incremental and differential chains on the servers, compared with the real clients' dumps.

PostgreSQL (and MySQL/MariaDB where the dialect supports chains): a full
backup then five incrementals, with inserts, updates and deletes between
them; every point restores to exactly the state it was taken at, as the
servers' own clients (``pg_dump --schema-only`` and ``psql`` COPY in key
order) see it. Backups taken while writers run are consistent.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.testing.writers import BackgroundWriter
from dbkeeper.urls import DatabaseURL

PG_SETUP = [
    "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, score int, payload bytea)",
    "CREATE TABLE events (v text, n int)",
    "CREATE TABLE tags (item_id bigint REFERENCES items(id) ON DELETE CASCADE, tag text, PRIMARY KEY (item_id, tag))",
    "CREATE INDEX items_score ON items (score)",
    "CREATE VIEW top_items AS SELECT * FROM items WHERE score > 50",
]


def _pg_env(url: DatabaseURL) -> dict[str, str]:
    return {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
            "PGUSER": url.username or "postgres", "PGDATABASE": url.database or ""}


def pg_state(url: DatabaseURL) -> dict[str, str]:
    """What the real clients show: the schema (pg_dump) and every table's rows in key order (psql)."""
    env = _pg_env(url)
    schema = subprocess.run(["pg_dump", "--schema-only", "--no-owner"], env=env, check=True,
                            capture_output=True, text=True).stdout
    schema = "\n".join(line for line in schema.splitlines()
                       if line and not line.startswith(("--", "\\restrict", "\\unrestrict")))
    out = {"schema": schema}
    for table in ("items", "events", "tags"):
        out[table] = subprocess.run(["psql", "-X", "-q", "-c", f"COPY (SELECT * FROM {table} ORDER BY 1, 2) TO STDOUT"],
                                    env=env, check=True, capture_output=True, text=True).stdout
    out["sequence"] = subprocess.run(["psql", "-X", "-q", "-At", "-c", "SELECT last_value FROM items_id_seq"],
                                     env=env, check=True, capture_output=True, text=True).stdout
    return out


def pg_fill(url: DatabaseURL, rows: int = 3000) -> None:
    with DatabaseConnection.from_url(url) as conn:
        for statement in PG_SETUP:
            conn.execute(statement)
        conn.bulk_insert("items", [(f"item {i} 'q' \t\\ ü\n", i % 100, bytes([i % 256, 0, 10]))
                                   for i in range(rows)], ["name", "score", "payload"])
        conn.bulk_insert("events", [(f"e{i}", i) for i in range(200)], ["v", "n"])
        conn.bulk_insert("tags", [(1 + i, f"t{i % 7}") for i in range(0, rows, 3)], ["item_id", "tag"])


def pg_mutate(url: DatabaseURL, step: int) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.bulk_insert("items", [(f"new {step}-{i}", i, None) for i in range(40)], ["name", "score", "payload"])
        conn.execute("UPDATE items SET score = score + 1000, name = name || ' upd' WHERE id BETWEEN %s AND %s",
                     (step * 200, step * 200 + 25))
        conn.execute("DELETE FROM items WHERE id BETWEEN %s AND %s", (2000 + step * 40, 2010 + step * 40))
        conn.execute("UPDATE events SET n = n + 1 WHERE n %% 17 = %s", (step,))
        conn.execute("INSERT INTO tags VALUES (%s, %s)", (1 + step, f"step{step}"))


@pytest.fixture
def pg_target_server() -> DatabaseURL:
    return server_url("postgres")


def dump_meta(manager: BackupManager, backup_id: str, encryption: Any = None) -> dict[str, Any]:
    """The dump metadata in a backup's manifest."""
    from dbkeeper.backup.chain import resolve

    return dict(resolve(manager.catalog, manager.get_backup(backup_id), encryption).manifest["dump"])


def settle_xmin(url: DatabaseURL, timeout: float = 60.0) -> None:
    """Wait until every transaction older than now has ended on the server.

    Other tests run on the same server in parallel; one of their transactions
    still open when a base backup is taken holds the base snapshot's xmin
    back, and rows written just before (the test's own seed) then count as
    changed in the next incremental: safe, but not what a test of reuse means
    to measure.
    """
    with DatabaseConnection.from_url(url) as conn:
        mark = int(conn.execute("SELECT pg_current_xact_id()::text::bigint AS x").scalar())
        deadline = time.monotonic() + timeout
        while int(conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x").scalar()) <= mark:
            assert time.monotonic() < deadline, "a transaction on the test server stayed open for a minute"
            time.sleep(0.05)


@pytest.fixture(params=["whole tables", "key ranges"])
def pg_ranges(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test twice: tables exported whole, and (threshold lowered) as key ranges an incremental can reuse."""
    from dbkeeper_postgres import incremental

    ranged = request.param == "key ranges"
    monkeypatch.setattr(incremental, "RANGE_ROWS", 100 if ranged else 10**12)
    return ranged


def test_postgres_chain_of_depth_five_restores_every_point(dbkeeper_postgres_url: DatabaseURL, tmp_path: Path,
                                                           pg_ranges: bool) -> None:
    url = dbkeeper_postgres_url
    pg_fill(url)
    settle_xmin(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    points = []
    for step in range(6):
        result = manager.create_backup("app", backup_type="full" if step == 0 else "incremental", chainable=True,
                                       compression="zstd", workers=2, chunk_size=8192)
        assert result.success, result.error_message
        points.append((result.backup_id, pg_state(url)))
        pg_mutate(url, step)
    backups = {b.backup_id: b for b in manager.get_backups("app")}
    full_size = backups[points[0][0]].metadata["size_bytes"]
    for backup_id, _ in points[1:]:
        assert backups[backup_id].metadata["size_bytes"] < full_size * 0.6
        assert backups[backup_id].metadata["reused_bytes"] > 0
        dump = dump_meta(manager, backup_id)
        if pg_ranges:  # items' 16 key ranges: the updated, deleted-from and appended-to ones are exported again
            assert dump["ranges_reused"] + dump["ranges_exported"] == 16
            # At most 9 ranges ever change here; one changed at an earlier step may be exported again while
            # another test's transaction holds the snapshot xmin back (see the test below).
            assert dump["ranges_reused"] >= 7 and dump["ranges_exported"] >= 3
        else:
            assert dump["ranges_reused"] == dump["ranges_exported"] == 0
    for backup_id, expected in points:
        with scratch_database(server_url("postgres"), prefix="dbk_chain") as target:
            manager.restore_backup(backup_id, target, replace=True)
            assert pg_state(target) == expected
    # a differential on top of the chain holds everything since the full
    diff = manager.create_backup("app", backup_type="differential", compression="zstd")
    assert diff.success, diff.error_message
    assert manager.catalog.depends_on(diff.backup_id) == {points[0][0]}
    with scratch_database(server_url("postgres"), prefix="dbk_chain") as target:
        manager.restore_backup(diff.backup_id, target)
        assert pg_state(target) == pg_state(url)


def test_postgres_incremental_while_writers_run_is_consistent(dbkeeper_postgres_url: DatabaseURL,
                                                              tmp_path: Path, pg_ranges: bool) -> None:
    """Writers move money between two tables in one transaction; every backup sees a total of zero."""
    url = dbkeeper_postgres_url
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v bigint)")
        conn.execute("CREATE TABLE b (id int PRIMARY KEY, v bigint)")
        conn.bulk_insert("a", [(i, 0) for i in range(20000)], ["id", "v"])
        conn.bulk_insert("b", [(i, 0) for i in range(20000)], ["id", "v"])
    def move(conn: DatabaseConnection, i: int) -> None:
        conn.execute("UPDATE a SET v = v + 5 WHERE id = %s", (i * 7919 % 20000,))
        conn.execute("UPDATE b SET v = v - 5 WHERE id = %s", (i * 104729 % 20000,))

    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    ids = []
    with BackgroundWriter(url, move) as writer:
        for kind in ("full", "incremental", "incremental"):
            writer.wait_for_writes()  # writes are going on when the backup starts
            result = manager.create_backup("app", backup_type=kind, workers=2, chainable=True)
            assert result.success, result.error_message
            ids.append(result.backup_id)
    for backup_id in ids:
        with scratch_database(server_url("postgres"), prefix="dbk_chain") as target, \
                DatabaseConnection.from_url(target) as conn:
            manager.restore_backup(backup_id, target, replace=True)
            total = conn.execute("SELECT (SELECT sum(v) FROM a) + (SELECT sum(v) FROM b) AS t").rows[0]["t"]
            assert total == 0


def test_postgres_fulls_use_the_native_dump_unless_asked_to_be_chain_bases(dbkeeper_postgres_url: DatabaseURL,
                                                                          tmp_path: Path) -> None:
    """An incremental on a native full becomes the chain's chainable full, with a warning (not an error)."""
    pg_fill(dbkeeper_postgres_url, rows=10)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=dbkeeper_postgres_url)
    plain = manager.create_backup("app")
    assert plain.success and manager.get_backup(plain.backup_id).metadata["dump_format"] == "pg_dump-custom"
    fallback = manager.create_backup("app", backup_type="incremental")
    assert fallback.success and len(fallback.warnings) == 1
    assert f"the base backup {plain.backup_id} is not a chainable dump" in fallback.warnings[0]
    assert "took a chainable full backup instead of the incremental one" in fallback.warnings[0]
    recorded = manager.get_backup(fallback.backup_id)
    assert recorded.backup_type == "full" and recorded.metadata["chainable"] is True
    assert recorded.metadata["parent_id"] is None
    base = manager.create_backup("app", chainable=True)
    assert manager.get_backup(base.backup_id).metadata["chainable"] is True
    incremental = manager.create_backup("app", backup_type="incremental")
    assert incremental.success and incremental.warnings == []
    assert manager.get_backup(incremental.backup_id).metadata["parent_id"] == base.backup_id


def test_schema_only_postgres_backup_is_not_a_chain_base(dbkeeper_postgres_url: DatabaseURL, tmp_path: Path) -> None:
    pg_fill(dbkeeper_postgres_url, rows=10)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=dbkeeper_postgres_url)
    assert manager.create_backup("app", include_data=False).success
    result = manager.create_backup("app", backup_type="incremental")
    assert result.success and "not a chainable dump" in result.warnings[0]
    assert manager.get_backup(result.backup_id).backup_type == "full"
    assert re.match(r"\d{8}T", manager.get_backups("app")[0].backup_id)


MY_SETUP = [
    "CREATE TABLE items (id bigint AUTO_INCREMENT PRIMARY KEY, name text NOT NULL, score int, payload blob, "
    "created datetime(3), ratio double, flags bit(8))",
    "CREATE TABLE events (v varchar(50), n int)",
    "CREATE TABLE tags (item_id bigint, tag varchar(20), PRIMARY KEY (item_id, tag), "
    "FOREIGN KEY (item_id) REFERENCES items(id) ON DELETE CASCADE)",
    "CREATE INDEX items_score ON items (score)",
    "CREATE VIEW top_items AS SELECT * FROM items WHERE score > 50",
    "CREATE TRIGGER events_bump BEFORE INSERT ON events FOR EACH ROW SET NEW.n = NEW.n + 1000000",
]


def my_state(url: DatabaseURL) -> dict[str, str]:
    """The schema from mariadb-dump and every table's rows in key order from the mariadb client."""
    from dbkeeper_mysql.dump import defaults_file  # the plugin's own 0600 options file

    with defaults_file(url) as cnf:
        return _my_state(url, str(cnf))


def _my_state(url: DatabaseURL, cnf: str) -> dict[str, str]:
    schema = subprocess.run(["mariadb-dump", f"--defaults-extra-file={cnf}", "--no-data", "--skip-dump-date",
                             "--triggers", "--", url.database or ""], check=True, capture_output=True,
                            text=True).stdout
    out = {"schema": "\n".join(line for line in schema.splitlines() if not line.startswith("--"))}
    for table, order in (("items", "id"), ("events", "v, n"), ("tags", "item_id, tag")):
        out[table] = subprocess.run(["mariadb", f"--defaults-extra-file={cnf}", "--batch", f"--database={url.database}",
                                     "-e", f"SELECT *, HEX(payload), HEX(flags) FROM {table} ORDER BY {order}"
                                     if table == "items" else f"SELECT * FROM {table} ORDER BY {order}"],
                                    check=True, capture_output=True).stdout.decode(errors="backslashreplace")
    return out


def my_fill(url: DatabaseURL, rows: int = 3000) -> None:
    with DatabaseConnection.from_url(url) as conn:
        for statement in MY_SETUP:
            conn.execute(statement)
        conn.bulk_insert("items", [(f"item {i} 'q' \t\\ ü\n\r", i % 100, bytes([i % 256, 0, 10, 39, 92]),
                                    f"2026-01-01 00:00:{i % 60:02d}.123", i / 7, i % 256)
                                   for i in range(rows)], ["name", "score", "payload", "created", "ratio", "flags"])
        conn.bulk_insert("events", [(f"e{i}", i) for i in range(200)], ["v", "n"])
        conn.bulk_insert("tags", [(1 + i, f"t{i % 7}") for i in range(0, rows, 3)], ["item_id", "tag"])
        conn.execute("INSERT INTO items (name, payload) VALUES ('empty blob', '')")


def my_mutate(url: DatabaseURL, step: int) -> None:
    with DatabaseConnection.from_url(url) as conn:
        conn.bulk_insert("items", [(f"new {step}-{i}", i, None) for i in range(40)], ["name", "score", "payload"])
        conn.execute("UPDATE items SET score = score + 1000, name = CONCAT(name, ' upd') WHERE id BETWEEN %s AND %s",
                     (step * 200, step * 200 + 25))
        conn.execute("DELETE FROM items WHERE id BETWEEN %s AND %s", (2000 + step * 40, 2010 + step * 40))
        conn.execute("UPDATE events SET n = n + 1 WHERE n %% 17 = %s", (step,))
        conn.execute("INSERT INTO tags VALUES (%s, %s)", (1 + step, f"step{step}"))


def test_mysql_chain_of_depth_five_restores_every_point(dbkeeper_mysql_url: DatabaseURL, tmp_path: Path) -> None:
    url = dbkeeper_mysql_url
    my_fill(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    points = []
    for step in range(6):
        result = manager.create_backup("app", backup_type="full" if step == 0 else "incremental", chainable=True,
                                       compression="zstd", chunk_size=8192)
        assert result.success, result.error_message
        points.append((result.backup_id, my_state(url)))
        my_mutate(url, step)
    backups = {b.backup_id: b for b in manager.get_backups("app")}
    full_size = backups[points[0][0]].metadata["size_bytes"]
    for backup_id, _ in points[1:]:
        assert backups[backup_id].metadata["size_bytes"] < full_size * 0.6
    for backup_id, expected in points:
        with scratch_database(server_url("mysql"), prefix="dbk_chain") as target:
            manager.restore_backup(backup_id, target, replace=True)
            got = my_state(target)
            assert got == {k: v.replace(url.database or "", target.database or "") for k, v in expected.items()}


def test_postgres_identical_tables_in_full_and_incremental(dbkeeper_postgres_url: DatabaseURL,
                                                           tmp_path: Path) -> None:
    """Equal chunks within one dump: a full stores each (its frames stay the whole stream), a chain shares them."""
    url = dbkeeper_postgres_url
    with DatabaseConnection.from_url(url) as conn:
        for table in ("a", "b"):
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
            conn.bulk_insert(table, [(i, "x" * 50) for i in range(5000)], ["id", "v"])
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    full = manager.create_backup("app", chunk_size=8192, chainable=True)
    assert full.success, full.error_message
    with DatabaseConnection.from_url(url) as conn:
        for table in ("c", "d"):
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
            conn.bulk_insert(table, [(i, "y" * 50) for i in range(5000)], ["id", "v"])
    inc = manager.create_backup("app", backup_type="incremental")
    assert inc.success, inc.error_message
    for backup_id, tables in ((full.backup_id, "ab"), (inc.backup_id, "abcd")):
        with scratch_database(server_url("postgres"), prefix="dbk_chain") as target:
            manager.restore_backup(backup_id, target)
            with DatabaseConnection.from_url(target) as conn:
                for table in tables:
                    assert conn.execute(f"SELECT count(*) AS n FROM {table}").rows[0]["n"] == 5000
        assert manager.verify_backup(backup_id, "full").success


def _large_objects(url: DatabaseURL) -> dict[int, bytes]:
    with DatabaseConnection.from_url(url) as conn:
        return {int(r["oid"]): bytes(r["data"]) for r in conn.execute(
            "SELECT oid, lo_get(oid) AS data FROM pg_largeobject_metadata ORDER BY oid").rows}


def test_postgres_chains_keep_large_objects(dbkeeper_postgres_url: DatabaseURL, tmp_path: Path) -> None:
    """``pg_dump --schema-only`` leaves large objects out; the ordered dump carries them, OIDs and all."""
    url = dbkeeper_postgres_url
    big = os.urandom(700_000)  # several lo_get pieces, with newlines and every byte value
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE docs (id int PRIMARY KEY, body oid)")
        first = conn.execute("SELECT lo_from_bytea(0, %s) AS oid", (big,)).scalar()
        empty = conn.execute("SELECT lo_from_bytea(0, ''::bytea) AS oid").scalar()
        conn.execute("INSERT INTO docs VALUES (1, %s), (2, %s)", (first, empty))
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    full = manager.create_backup("app", chainable=True)
    assert manager.get_backup(full.backup_id).metadata["chainable"]
    before = _large_objects(url)
    assert before[first] == big and before[empty] == b""
    with DatabaseConnection.from_url(url) as conn:
        third = conn.execute("SELECT lo_from_bytea(0, %s) AS oid", (b"line\n" * 1000,)).scalar()
        conn.execute("SELECT lo_put(%s::oid, 10, %s)", (first, b"changed"))
        conn.execute("SELECT lo_unlink(%s::oid)", (empty,))
        conn.execute("INSERT INTO docs VALUES (3, %s)", (third,))
    after = _large_objects(url)
    inc = manager.create_backup("app", backup_type="incremental")
    assert inc.success, inc.error_message
    with scratch_database(server_url("postgres"), prefix="dbk_lo") as target:
        manager.restore_backup(full.backup_id, target)
        assert _large_objects(target) == before
        manager.restore_backup(inc.backup_id, target, replace=True)
        assert _large_objects(target) == after
        with DatabaseConnection.from_url(target) as conn:
            assert conn.execute("SELECT count(*) FROM docs d JOIN pg_largeobject_metadata m ON m.oid = d.body"
                                ).scalar() == 2


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_postgres_incrementals_export_only_the_key_ranges_that_changed(dbkeeper_postgres_url: DatabaseURL,
                                                                       tmp_path: Path, encrypted: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The change signal: row counts and row versions since the base snapshot, per key range, and its guards."""
    from dbkeeper.backup import EncryptionSettings
    from dbkeeper_postgres import incremental

    monkeypatch.setattr(incremental, "RANGE_ROWS", 100)
    enc = EncryptionSettings(passphrase="key ranges passphrase", kdf_params={"memory_kib": 1024, "iterations": 1}) \
        if encrypted else None
    url = dbkeeper_postgres_url
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, m mood, v text)")
        conn.bulk_insert("t", [(i, ("sad", "ok", "happy")[i % 3], f"v{i}") for i in range(1600)], ["id", "m", "v"])
    settle_xmin(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)

    touched: set[int] = set()  # ranges whose rows changed at some step

    def step(sql: str | None, changes: set[int] | None = None, *, all_again: bool = False,
             warns: bool = False) -> None:
        """Run ``sql``, which changes the rows of the ranges ``changes``; back up; check what was exported.

        ``warns``: the whole dump's reuse is off, which the result's warnings say."""
        if sql:
            with DatabaseConnection.from_url(url) as conn:
                conn.execute(sql)
        touched.update(changes or ())
        result = manager.create_backup("app", backup_type="incremental" if manager.get_backups("app") else "full",
                                       chainable=True, workers=2, encryption=enc)
        assert result.success, result.error_message
        assert [w.split(":")[0] for w in result.warnings] == (
            ["every key range was read again, none reused from the base backup"] if warns else [])
        dump = dump_meta(manager, result.backup_id, enc)
        assert dump["ranges_reused"] + dump["ranges_exported"] == 16
        if all_again:
            assert dump["ranges_reused"] == 0, sql
        else:
            # Every changed range is exported (the restore below proves it), and a range no step ever changed
            # is always reused. A range changed at an earlier step may be exported again: a transaction running
            # elsewhere on the server (tests run in parallel) holds the base snapshot's xmin back, and row
            # versions at or after it count as changed (the safe side).
            assert dump["ranges_exported"] >= len(changes or ()), sql
            assert dump["ranges_reused"] >= 16 - len(touched), sql
        assert manager.verify_backup(result.backup_id, "full", encryption=enc).success
        with scratch_database(server_url("postgres"), prefix="dbk_ranges") as target:
            manager.restore_backup(result.backup_id, target, encryption=enc)
            assert _rows(target) == _rows(url)

    step(None, all_again=True)  # the full: 16 ranges of 100 ids
    step(None)  # nothing changed
    step("DELETE FROM t WHERE id = 550", {5})  # a delete lowers one range's count
    step("UPDATE t SET v = v WHERE id = 1234", {12})  # a new row version, same values
    step("INSERT INTO t VALUES (5000, 'ok', 'appended')", {15})  # into the last, open range
    with DatabaseConnection.from_url(url) as conn, pytest.raises(RuntimeError), conn.transaction():
        conn.execute("UPDATE t SET v = 'rolled back' WHERE id BETWEEN 100 AND 150")
        raise RuntimeError("abort")
    step(None)  # an aborted update changed nothing
    step("ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", all_again=True, warns=True)  # rows print differently
    step("ALTER TABLE t ADD COLUMN w int DEFAULT 7", all_again=True)  # no rewrite, but a new column
    step(None)


def _rows(url: DatabaseURL) -> list[tuple[Any, ...]]:
    with DatabaseConnection.from_url(url) as conn:
        return conn.execute("SELECT t::text FROM t ORDER BY id").tuples()
