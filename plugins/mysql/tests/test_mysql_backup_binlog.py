"""MySQL/MariaDB incrementals that read the binary log to skip unchanged key ranges, on a real server.

The shared MariaDB has no binary log (and must not be restarted), so these
tests run on a private one with ``log_bin`` and ``binlog_format=ROW``
(``private_mariadb_binlog_server``). What must hold:

* an incremental exports only the key ranges whose rows the log shows
  changed (inserts, updates, deletes, a key moved from one range to another,
  unsigned keys above 2^63, a key column after a generated one, minimal row
  images, changes spread over several log files) and reuses
  the base's chunks for the rest, and every point of the chain restores to
  exactly what ``mariadb-dump`` saw;
* whatever the log cannot prove turns reuse off, and the backup says why but
  is still exact: statements (DDL, ``binlog_format=STATEMENT``), a reset log,
  an account without the binary log privileges (its password never shows);
* rows a cascading foreign key changes are not logged, so such a child
  table is always exported;
* an incremental taken while writers move amounts between key ranges sees
  one instant;
* a server without a binary log gets exact incrementals that read every row.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbkeeper.backup import BackupManager
from dbkeeper.backup.chain import resolve
from dbkeeper.cli.commands.backup import backup as backup_cli
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing import private_servers
from dbkeeper.testing.servers import scratch_database
from dbkeeper.testing.writers import BackgroundWriter
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql import incremental
from dbkeeper_mysql.testing import client_dump

ROWS = 120_000  # above incremental.RANGE_ROWS, so ``big`` is cut into key ranges
COLUMNS = ["id", "name", "note", "amount"]


@pytest.fixture
def binlog_url(private_mariadb_binlog_server: private_servers.PrivateServer) -> Iterator[DatabaseURL]:
    with scratch_database(private_mariadb_binlog_server.url, prefix="dbk_binlog") as url:
        yield url


def fill(url: DatabaseURL) -> None:
    """``big``: keys 0, 10, 20, ... so each of the 16 ranges holds 7,500 rows; ``small`` and ``pairs`` are one part."""
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, name varchar(60), note text, amount int NOT NULL)")
        conn.execute("CREATE TABLE small (id int PRIMARY KEY, v text)")
        conn.execute("CREATE TABLE pairs (a int, b varchar(10), v text, PRIMARY KEY (a, b))")
        conn.bulk_insert("big", [(i * 10, f"name {i}", f"note\n{i} 'q'", i % 1000) for i in range(ROWS)], COLUMNS)
        conn.bulk_insert("small", [(i, f"v{i}") for i in range(100)], ["id", "v"])
        conn.bulk_insert("pairs", [(i // 3, f"b{i % 3}", "x") for i in range(300)], ["a", "b", "v"])
        conn.execute("ANALYZE TABLE big")


def dump_of(manager: BackupManager, backup_id: str) -> dict[str, Any]:
    return dict(resolve(manager.catalog, manager.get_backup(backup_id), None).manifest["dump"])


def backup(manager: BackupManager, kind: str, **options: Any) -> tuple[str, dict[str, Any]]:
    result = manager.create_backup("app", backup_type=kind, chainable=True, compression="zstd", chunk_size=8192,
                                   **options)
    assert result.success, result.error_message
    return result.backup_id, dump_of(manager, result.backup_id)


def range_of(key: int) -> int:
    """The range number of ``big``'s ``key`` (bounds split 0..1,199,990 evenly)."""
    step = (ROWS * 10 - 10 + 1) // incremental.RANGES
    return min(key // step, incremental.RANGES - 1)


def assert_restores(manager: BackupManager, points: list[tuple[str, str]], server: DatabaseURL) -> None:
    for backup_id, expected in points:
        with scratch_database(server, prefix="dbk_binlog_r") as target:
            manager.restore_backup(backup_id, target, replace=True)
            assert client_dump(target) == expected, backup_id


def test_incrementals_export_only_the_ranges_the_log_shows_changed(binlog_url: DatabaseURL, tmp_path: Path) -> None:
    url = binlog_url
    fill(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    full_id, full = backup(manager, "full")
    assert full["binlog"] is not None and full["binlog"]["gtid"]
    assert len(full["ranges"]["big"]["spans"]) == incremental.RANGES
    points = [(full_id, client_dump(url))]
    steps: list[tuple[str, list[Any], set[int]]] = [
        ("UPDATE big SET note = CONCAT(note, ' upd'), amount = amount + 1 WHERE id BETWEEN %s AND %s",
         [300_000, 300_500], {range_of(300_000)}),
        ("INSERT INTO big VALUES (%s, 'appended', 'new', 1), (%s, 'appended', 'new', 2)",
         [5_000_000, 5_000_001], {incremental.RANGES - 1}),
        ("DELETE FROM big WHERE id BETWEEN %s AND %s", [900_000, 900_100], {range_of(900_000)}),
        ("UPDATE big SET id = %s WHERE id = %s", [15, 1_100_000], {range_of(15), range_of(1_100_000)}),
        ("UPDATE small SET v = 'changed' WHERE id = %s", [3], set()),
    ]
    for sql, args, touched in steps:
        with DatabaseConnection.from_url(url) as conn:
            conn.execute(sql, tuple(args))
        backup_id, dump = backup(manager, "incremental")
        assert "reuse_skipped" not in dump, dump.get("reuse_skipped")
        assert dump["ranges_reused"] == incremental.RANGES - len(touched), sql
        assert dump["ranges_exported"] == len(touched), sql
        points.append((backup_id, client_dump(url)))
    # Nothing changed: every range is the base's and no chunk is stored.
    again_id, again = backup(manager, "incremental", workers=2)
    assert again["ranges_reused"] == incremental.RANGES
    assert manager.get_backup(again_id).metadata["stored_chunks"] == 0
    # A differential builds on the full: every range changed since then is exported again.
    diff_id, diff = backup(manager, "differential")
    assert diff["ranges_exported"] == len(set().union(*(touched for _, _, touched in steps)))
    points += [(again_id, points[-1][1]), (diff_id, points[-1][1])]
    assert_restores(manager, points, url.with_database("test"))


def test_changes_across_several_log_files_and_minimal_row_images(binlog_url: DatabaseURL, tmp_path: Path) -> None:
    """The log is rotated between the base and the incremental, and some changes are logged with
    ``binlog_row_image=MINIMAL`` (an update's before image holds only the key, its after image only what
    changed, so a moved key shows only in the after image)."""
    url = binlog_url
    fill(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    backup(manager, "full")
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("UPDATE big SET amount = amount + 1 WHERE id = %s", (100_000,))
        conn.execute("FLUSH BINARY LOGS")
        conn.execute("SET SESSION binlog_row_image = 'MINIMAL'")
        conn.execute("UPDATE big SET note = 'minimal' WHERE id = %s", (500_000,))
        conn.execute("UPDATE big SET id = %s WHERE id = %s", (1_000_005, 700_000))
        conn.execute("FLUSH BINARY LOGS")
        conn.execute("DELETE FROM big WHERE id = %s", (1_150_000,))
    touched = {range_of(k) for k in (100_000, 500_000, 1_000_005, 700_000, 1_150_000)}
    inc_id, inc = backup(manager, "incremental")
    assert "reuse_skipped" not in inc, inc.get("reuse_skipped")
    assert inc["binlog"]["file"] != dump_of(manager, manager.get_backups("app")[0].backup_id)["binlog"]["file"]
    assert inc["ranges_exported"] == len(touched)
    assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))


def test_unsigned_keys_and_a_key_after_a_generated_column(binlog_url: DatabaseURL, tmp_path: Path) -> None:
    """The log prints an unsigned key above 2^63 as a negative number with the value in brackets, and numbers
    columns counting generated ones: both must map to the right range."""
    url = binlog_url
    top = 1 << 64
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE odd (note text, size int AS (LENGTH(note)) VIRTUAL, "
                     "id bigint unsigned PRIMARY KEY)")
        step = (top - 1) // ROWS
        conn.bulk_insert("odd", [(f"n{i}", i * step) for i in range(ROWS)], ["note", "id"])
        conn.execute("ANALYZE TABLE odd")
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    _, full = backup(manager, "full")
    bounds = full["ranges"]["odd"]["bounds"]
    high_key = (ROWS - 5) * step  # above 2^63, in the last range
    assert high_key >= 1 << 63
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("UPDATE odd SET note = 'changed high' WHERE id = %s", (high_key,))
        conn.execute("UPDATE odd SET note = 'changed low' WHERE id = %s", (3 * step,))
    inc_id, inc = backup(manager, "incremental")
    assert "reuse_skipped" not in inc, inc.get("reuse_skipped")
    assert inc["ranges_exported"] == 2
    assert high_key >= bounds[-1] and 3 * step < bounds[0]
    assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))


@pytest.mark.parametrize(("change", "reason"), [
    ("ALTER TABLE small ADD COLUMN extra int", "statements"),
    ("CREATE TABLE unrelated (id int PRIMARY KEY)", "statements"),
    ("SET SESSION binlog_format = 'STATEMENT'; UPDATE big SET amount = amount + 1 WHERE id = 40", "statements"),
    ("RESET MASTER; UPDATE big SET amount = -1 WHERE id < 1000", "reset or purged"),
    # 2 x 60,000 rows with 200-byte notes, each logged before and after: more log than the table holds
    ("UPDATE big SET note = REPEAT('y', 200) WHERE id < 600000; UPDATE big SET note = REPEAT('z', 200) "
     "WHERE id < 600000", "larger than the tables"),
])
def test_what_the_log_cannot_prove_turns_reuse_off_and_the_backup_stays_exact(
        binlog_url: DatabaseURL, tmp_path: Path, change: str, reason: str) -> None:
    url = binlog_url
    fill(url)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    backup(manager, "full")
    with DatabaseConnection.from_url(url) as conn:
        for statement in change.split("; "):
            conn.execute(statement)
    inc_id, inc = backup(manager, "incremental")
    assert reason in inc["reuse_skipped"]
    assert inc["ranges_reused"] == 0
    assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))


def test_rows_changed_by_a_cascading_foreign_key_are_exported(binlog_url: DatabaseURL, tmp_path: Path) -> None:
    """InnoDB logs only the parent's deleted row; the child's cascaded deletes are in no event."""
    url = binlog_url
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE parent (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE child (id bigint PRIMARY KEY, parent_id int, "
                     "FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)")
        conn.bulk_insert("parent", [(i,) for i in range(10)], ["id"])
        conn.bulk_insert("child", [(i, i % 10) for i in range(ROWS)], ["id", "parent_id"])
        conn.execute("ANALYZE TABLE child")
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    backup(manager, "full")
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("DELETE FROM parent WHERE id = 3")
    inc_id, inc = backup(manager, "incremental")
    assert inc["ranges_exported"] == incremental.RANGES
    assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))


def test_an_account_that_cannot_read_the_log_gets_an_exact_backup_and_a_reason(binlog_url: DatabaseURL,
                                                                               tmp_path: Path) -> None:
    url = binlog_url
    fill(url)
    name = f"dbk_nolog_{secrets.token_hex(4)}"
    password = f"Pw-{secrets.token_hex(8)}"
    with DatabaseConnection.from_url(url) as admin:
        admin.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        admin.execute(f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `{url.database}`.* TO '{name}'@'%'")
    try:
        user_url = DatabaseURL(scheme=url.scheme, username=name, password=password, host=url.host, port=url.port,
                               database=url.database)
        manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=user_url)
        backup(manager, "full")
        with DatabaseConnection.from_url(url) as conn:
            conn.execute("UPDATE big SET amount = 7 WHERE id = 50")
        inc_id, inc = backup(manager, "incremental")
        assert "cannot be read" in inc["reuse_skipped"]
        assert password not in str(inc)
        assert inc["ranges_reused"] == 0
        assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))
    finally:
        with DatabaseConnection.from_url(url) as admin:
            admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def test_an_incremental_while_writers_move_amounts_sees_one_instant(binlog_url: DatabaseURL, tmp_path: Path) -> None:
    """Each transaction moves an amount from a row in one key range to a row in another; every incremental,
    reusing the ranges the log shows unchanged, restores to a total of zero."""
    url = binlog_url
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, v bigint NOT NULL)")
        conn.bulk_insert("ledger", [(i, 0) for i in range(ROWS)], ["id", "v"])
        conn.execute("ANALYZE TABLE ledger")
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    backup(manager, "full")
    def move(conn: DatabaseConnection, i: int) -> None:  # two rows far apart: usually two ranges
        conn.execute("UPDATE ledger SET v = v + 3 WHERE id = %s", (i * 7919 % 20_000,))
        conn.execute("UPDATE ledger SET v = v - 3 WHERE id = %s", (60_000 + i * 104_729 % 20_000,))

    ids = []
    with BackgroundWriter(url, move) as writer:
        for _ in range(3):
            writer.wait_for_writes()
            backup_id, dump = backup(manager, "incremental", workers=2)
            assert "reuse_skipped" not in dump, dump.get("reuse_skipped")
            assert dump["ranges_reused"] >= 8  # the writer touches ranges 0-2 and 8-9 only
            ids.append(backup_id)
    for backup_id in ids:
        with scratch_database(url.with_database("test"), prefix="dbk_binlog_r") as target:
            manager.restore_backup(backup_id, target, replace=True)
            with DatabaseConnection.from_url(target) as conn:
                row = conn.execute("SELECT SUM(v) AS total, COUNT(*) AS n FROM ledger").rows[0]
            assert (int(row["total"]), int(row["n"])) == (0, ROWS)


def test_without_a_binary_log_every_row_is_read_and_the_user_is_told_why(private_mariadb_url: DatabaseURL,
                                                                       tmp_path: Path) -> None:
    url = private_mariadb_url  # the monitoring server: started with --skip-log-bin
    fill(url)
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    full = runner.invoke(backup_cli, ["create", "--db", str(url), "--name", "app", "--chainable", "--workspace", ws])
    assert full.exit_code == 0, full.output
    assert "warning" not in full.output
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("UPDATE big SET amount = 1 WHERE id = 10")
    inc = runner.invoke(backup_cli, ["create", "--db", str(url), "--name", "app", "--type", "incremental",
                                     "--workers", "2", "--workspace", ws])
    assert inc.exit_code == 0, inc.output
    assert inc.stderr.strip() == ("warning: every key range was read again, none reused from the base backup: the "
                                  "server keeps no binary log (log_bin=OFF) or is not MariaDB")
    manager = BackupManager(workspace_dir=Path(ws), database_url=url)
    inc_id = manager.get_backups("app")[-1].backup_id
    dump = dump_of(manager, inc_id)
    assert dump["binlog"] is None
    assert (dump["ranges_reused"], dump["ranges_exported"]) == (0, incremental.RANGES)
    assert dump["parallel"] is True and dump["workers"] == 2
    assert_restores(manager, [(inc_id, client_dump(url))], url.with_database("test"))
