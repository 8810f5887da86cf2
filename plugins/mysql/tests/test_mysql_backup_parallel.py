"""Parallel export of the chainable MySQL/MariaDB dump, on the real server.

Several worker sessions share one snapshot (``FLUSH TABLES WITH READ LOCK``,
``START TRANSACTION WITH CONSISTENT SNAPSHOT`` in each, ``UNLOCK TABLES``)
and read tables and key ranges of large tables at once. What must hold:

* the byte stream is identical whatever the number of workers (content-
  defined chunks depend only on bytes, so chains share chunks across
  settings), including the multi-row ``INSERT`` boundaries that cross key
  ranges;
* a chain made with several workers restores to exactly the source, as
  ``mariadb-dump`` sees it;
* a backup taken while writers move amounts between two tables sees one
  instant (the total is unchanged);
* without the ``RELOAD`` privilege, when the lock cannot be had quickly, or
  when the sessions cannot connect, the backup falls back to one session,
  succeeds, and says why;
* a part that fails fails the backup cleanly (no file, no client left);
* a password never reaches the manifest, the archive or an error.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.backup.chain import resolve
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.servers import scratch_database, server_url
from dbkeeper.testing.writers import BackgroundWriter
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql import incremental
from dbkeeper_mysql._sessions import ClientSession
from dbkeeper_mysql.dump import defaults_file
from dbkeeper_mysql.testing import client_dump

#: Rows of the table that gets split into key ranges (above ``incremental.RANGE_ROWS`` after ANALYZE).
BIG_ROWS = 150_000

SETUP = [
    "CREATE TABLE big (id bigint PRIMARY KEY, name varchar(100), note text, payload varbinary(32), "
    "amount decimal(12,2), ratio double, created datetime(3), flags bit(8), kind enum('a','b','c'), doc json)",
    "CREATE TABLE nokey (v varchar(100), n int, data blob)",
    "CREATE TABLE pairs (a int, b varchar(20), v text, PRIMARY KEY (a, b))",
    "CREATE TABLE words (w varchar(40) PRIMARY KEY, n int)",
    "CREATE TABLE empty_one (id int PRIMARY KEY, v text)",
    "CREATE TABLE small (id int PRIMARY KEY, v text)",
    "CREATE VIEW big_view AS SELECT id, name FROM big WHERE id < 100",
    "CREATE TRIGGER small_bump BEFORE INSERT ON small FOR EACH ROW SET NEW.v = CONCAT(NEW.v, ' (trigger)')",
]

_TEXTS = ["plain", "it's \"quoted\"", "back\\slash", "new\nline", "cr\r\nlf", "tab\there", "ünïcödé ✓",
          "emoji 🎉", "", "trailing space ", "-- not a comment", "x);\nINSERT INTO nope", "NULL"]


def _text(i: int) -> str | None:
    return None if i % 11 == 5 else f"{_TEXTS[i % len(_TEXTS)]} #{i}"


def _blob(i: int) -> bytes | None:
    return None if i % 13 == 7 else b"" if i % 13 == 8 else bytes([i % 256, 0, 10, 13, 39, 92, (i * 7) % 256])


def fill(url: DatabaseURL) -> None:
    """Every kind of value and table the export handles; ``big`` keys are sparse and partly negative."""
    with DatabaseConnection.from_url(url) as conn:
        for statement in SETUP:
            conn.execute(statement)
        conn.bulk_insert("big", [(i * 3 - 50_000, f"name {i}", _text(i), _blob(i),
                                  None if i % 17 == 3 else (i % 100_000) / 100, i / 7 if i % 19 else None,
                                  f"2026-01-{1 + i % 28:02d} 10:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}", i % 256,
                                  "abc"[i % 3], json.dumps({"i": i, "s": _TEXTS[i % len(_TEXTS)]}))
                                 for i in range(BIG_ROWS)],
                         ["id", "name", "note", "payload", "amount", "ratio", "created", "flags", "kind", "doc"])
        conn.bulk_insert("nokey", [(_text(i), i, _blob(i)) for i in range(500)], ["v", "n", "data"])
        conn.bulk_insert("pairs", [(i // 7, f"b{i % 7}", _text(i)) for i in range(6000)], ["a", "b", "v"])
        conn.bulk_insert("words", [(f"word-{i:06d}", i) for i in range(3000)], ["w", "n"])
        conn.bulk_insert("small", [(i, _text(i)) for i in range(50)], ["id", "v"])
        conn.execute("ANALYZE TABLE big")  # the split decision reads the table's row estimate


class CuttingSink(io.BytesIO):
    """A sink that records where the dump asks for chunk cuts (the backup's chunk sink ends a chunk there)."""

    def __init__(self) -> None:
        super().__init__()
        self.cuts: list[int] = []

    def cut(self) -> int:
        self.cuts.append(self.tell())
        return len(self.cuts)


def dump_stream(url: DatabaseURL, workers: int) -> tuple[bytes, dict[str, Any]]:
    """The chainable dump as the backup manager gets it, with ``workers`` workers."""
    conn = DatabaseConnection.from_url(url, connection_pool_size=1, max_retries=0)
    sink = CuttingSink()
    meta = conn.dialect.dump(conn, sink, {"chainable": True, "workers": workers})
    return sink.getvalue(), meta


def manifest_of(manager: BackupManager, backup_id: str) -> dict[str, Any]:
    return resolve(manager.catalog, manager.get_backup(backup_id), None).manifest


def _mysql_children() -> list[int]:
    """Client processes started by this test process that are still there (alive or not yet reaped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == os.getpid() and comm in ("mariadb", "mysql"):
            found.append(int(entry))
    return found


@pytest.fixture
def filled(dbkeeper_mysql_url: DatabaseURL) -> DatabaseURL:
    fill(dbkeeper_mysql_url)
    return dbkeeper_mysql_url


@pytest.fixture
def user_without_reload(filled: DatabaseURL) -> Iterator[DatabaseURL]:
    """A passworded user with what a dump needs on the database, but no RELOAD; dropped afterwards."""
    name = f"dbk_norl_{secrets.token_hex(4)}"
    password = f"Pw-{secrets.token_hex(8)}-'\"\\ x"
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    with DatabaseConnection.from_url(filled) as admin:
        admin.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{quoted}'")
        try:
            admin.execute(f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `{filled.database}`.* "
                          f"TO '{name}'@'%'")
            admin.execute(f"GRANT PROCESS ON *.* TO '{name}'@'%'")
            yield DatabaseURL(scheme=filled.scheme, username=name, password=password, host=filled.host,
                              port=filled.port, database=filled.database)
        finally:
            admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def test_any_number_of_workers_writes_the_same_bytes(filled: DatabaseURL) -> None:
    one, meta_one = dump_stream(filled, 1)
    assert meta_one["parallel"] is False
    assert "parallel_fallback" not in meta_one
    assert meta_one["unordered_tables"] == ["nokey"]
    for workers in (2, 3):
        stream, meta = dump_stream(filled, workers)
        assert meta["parallel"] is True, meta.get("parallel_fallback")
        assert meta["workers"] == workers
        # big is cut into 16 key ranges whatever the number of workers; the five other tables are one part each
        assert meta["parts"] == 5 + incremental.RANGES
        assert stream == one
    text = one.decode("utf-8")
    assert text.count("INSERT INTO `big`") > 40  # statements start inside ranges, not only at range starts
    assert "INSERT INTO `empty_one`" not in text
    assert "'new\\nline #3'" in text and "🎉" in text


def test_a_key_range_prints_the_same_bytes_whatever_its_neighbours_hold(filled: DatabaseURL) -> None:
    """A range's output depends on its own rows only (its first row starts an INSERT, a ``;`` ends its last), so
    deleting the table's first rows or emptying the range before it leaves its bytes as they were, and the
    ranges together restore every row."""
    with DatabaseConnection.from_url(filled) as conn:
        table = next(t for t in incremental._tables(conn, filled.database or "") if t["name"] == "big")
    cuts = [" WHERE `id` < -49000", " WHERE `id` >= -49000 AND `id` < 8", " WHERE `id` >= 8 AND `id` < 9",
            " WHERE `id` >= 9 AND `id` < 400000", " WHERE `id` >= 400000"]

    def ranges() -> list[bytes]:
        out = []
        with defaults_file(filled) as cnf:
            argv = ["mariadb", f"--defaults-extra-file={cnf}", "--default-character-set=utf8mb4", "--batch",
                    "--raw", "--skip-column-names", "--quick", "--unbuffered", f"--database={filled.database}"]
            session = ClientSession(argv, dict(os.environ), [])
            try:
                session.run(["SET time_zone = '+00:00'", "START TRANSACTION WITH CONSISTENT SNAPSHOT"])
                for where in cuts:
                    blocks: list[bytes] = []
                    session.run(incremental._select(table, where), blocks.append)
                    out.append(b"".join(blocks))
            finally:
                session.close()
        return out

    before = ranges()
    assert before[2] == b""  # no key is 8 (keys are 3i - 50000): an empty range prints nothing
    for text in (before[0], before[1], before[3]):
        assert text.startswith(b"INSERT INTO `big`") and text.endswith(b"\n;\n")
    assert sum(text.count(b"\n") - 1 for text in before if text) == BIG_ROWS
    with DatabaseConnection.from_url(filled) as conn:
        conn.execute("DELETE FROM big WHERE id < -49000")  # the whole first range, so the table starts later
        conn.execute("DELETE FROM big WHERE id BETWEEN -48000 AND -47000")
    after = ranges()
    assert after[0] == b""
    assert after[1] != before[1]
    assert after[3:] == before[3:]


def test_parallel_chain_restores_exactly(filled: DatabaseURL, tmp_path: Path) -> None:
    url = filled
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    points = []
    for step in range(4):
        result = manager.create_backup("app", backup_type="full" if step == 0 else "incremental", chainable=True,
                                       compression="zstd", workers=2, chunk_size=8192)
        assert result.success, result.error_message
        assert manifest_of(manager, result.backup_id)["dump"]["parallel"] is True
        points.append((result.backup_id, client_dump(url)))
        if step == 3:
            break
        with DatabaseConnection.from_url(url) as conn:
            conn.execute("UPDATE big SET note = CONCAT(IFNULL(note, ''), ' upd\\n'), amount = amount + 1 "
                         "WHERE id BETWEEN %s AND %s", (step * 30_000, step * 30_000 + 600))
            conn.execute("DELETE FROM big WHERE id BETWEEN %s AND %s", (200_000 + step * 900, 200_300 + step * 900))
            conn.bulk_insert("big", [(1_000_000 + step * 100 + i, f"new {i}", "n\nn", b"\x00\xff", 1, 2.5,
                                      "2026-02-02 00:00:00", 1, "b", "[]") for i in range(100)],
                             ["id", "name", "note", "payload", "amount", "ratio", "created", "flags", "kind", "doc"])
            conn.execute("INSERT INTO pairs VALUES (%s, 'new', 'x')", (step,))
            conn.execute("UPDATE nokey SET n = n + 1 WHERE n %% 9 = %s", (step,))
            conn.execute("INSERT INTO small VALUES (%s, 'via trigger')", (1000 + step,))
    backups = {b.backup_id: b for b in manager.get_backups("app")}
    full_size = backups[points[0][0]].metadata["size_bytes"]
    for backup_id, _ in points[1:]:
        assert backups[backup_id].metadata["size_bytes"] < full_size * 0.6
    for backup_id, expected in points:
        with scratch_database(server_url("mysql"), prefix="dbk_par") as target:
            manager.restore_backup(backup_id, target, replace=True)
            assert client_dump(target) == expected
    # Nothing changed since the last backup: one worker writes the very bytes two workers wrote.
    again = manager.create_backup("app", backup_type="incremental", compression="zstd", workers=1)
    assert again.success, again.error_message
    assert manifest_of(manager, again.backup_id)["dump"]["parallel"] is False
    assert manager.get_backup(again.backup_id).metadata["stored_chunks"] == 0


def test_parallel_backup_while_writers_move_amounts_is_consistent(dbkeeper_mysql_url: DatabaseURL,
                                                                   tmp_path: Path) -> None:
    """A writer moves amounts from rows of ``a`` to rows of ``b`` in one transaction; every backup sees a total
    of zero although ``a``'s key ranges and ``b`` are read by different sessions."""
    url = dbkeeper_mysql_url
    with DatabaseConnection.from_url(url) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v bigint NOT NULL)")
        conn.execute("CREATE TABLE b (id int PRIMARY KEY, v bigint NOT NULL)")
        conn.bulk_insert("a", [(i, 0) for i in range(150_000)], ["id", "v"])
        conn.bulk_insert("b", [(i, 0) for i in range(20_000)], ["id", "v"])
        conn.execute("ANALYZE TABLE a")
    def move(conn: DatabaseConnection, i: int) -> None:
        conn.execute("UPDATE a SET v = v + 5 WHERE id = %s", (i * 7919 % 150_000,))
        conn.execute("UPDATE b SET v = v - 5 WHERE id = %s", (i * 104_729 % 20_000,))

    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    ids = []
    with BackgroundWriter(url, move) as writer:
        for kind in ("full", "incremental", "incremental"):
            writer.wait_for_writes()  # writes are going on when the backup starts
            result = manager.create_backup("app", backup_type=kind, workers=2, chainable=True)
            assert result.success, result.error_message
            dump = manifest_of(manager, result.backup_id)["dump"]
            assert dump["parallel"] is True, dump.get("parallel_fallback")
            assert dump["parts"] == incremental.RANGES + 1  # a in key ranges, b whole
            ids.append(result.backup_id)
    for backup_id in ids:
        with scratch_database(server_url("mysql"), prefix="dbk_par") as target, \
                DatabaseConnection.from_url(target) as conn:
            manager.restore_backup(backup_id, target, replace=True)
            row = conn.execute("SELECT (SELECT SUM(v) FROM a) + (SELECT SUM(v) FROM b) AS t, "
                               "(SELECT COUNT(*) FROM a) AS na, (SELECT COUNT(*) FROM b) AS nb").rows[0]
            assert (row["t"], row["na"], row["nb"]) == (0, 150_000, 20_000)


def test_without_reload_the_backup_falls_back_to_one_session(user_without_reload: DatabaseURL,
                                                              filled: DatabaseURL, tmp_path: Path) -> None:
    url = user_without_reload
    password = url.password or ""
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    result = manager.create_backup("app", chainable=True, compression="zstd", workers=2)
    assert result.success, result.error_message
    manifest = manifest_of(manager, result.backup_id)
    dump = manifest["dump"]
    assert dump["parallel"] is False
    assert dump["workers"] == 1
    assert "FLUSH TABLES WITH READ LOCK" in dump["parallel_fallback"]
    assert "RELOAD" in dump["parallel_fallback"]
    assert result.warnings == [f"rows were read by one session, not 2: {dump['parallel_fallback']}"]
    assert password not in json.dumps(manifest)
    assert password not in str(result.warnings)
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    # the same bytes as a parallel dump by a user who may lock
    assert dump_stream(url, 2)[0] == dump_stream(filled, 2)[0]
    with scratch_database(server_url("mysql"), prefix="dbk_par") as target:
        manager.restore_backup(result.backup_id, target)
        assert client_dump(target) == client_dump(filled)


def test_a_lock_that_waits_too_long_falls_back(filled: DatabaseURL, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``FLUSH TABLES WITH READ LOCK`` waits for running writes (and holds new ones meanwhile): the wait is cut
    short (``lock_wait_timeout``) and the backup goes on in one session."""
    from dbkeeper_mysql import _sessions

    monkeypatch.setattr(_sessions, "LOCK_WAIT_TIMEOUT", 1)
    expected = client_dump(filled)
    marker = f"slow-{secrets.token_hex(4)}"

    def slow_write() -> None:  # SLEEP() returns 0: the row does not change
        # Shorter than the default lock wait: parallel backups of tests in other xdist workers (the lock is
        # server-wide) wait for this write but still get their lock.
        with DatabaseConnection.from_url(filled) as conn:
            conn.execute(f"UPDATE small SET id = id + SLEEP(4) /* {marker} */ WHERE id = 1")

    thread = threading.Thread(target=slow_write)
    thread.start()
    try:
        with DatabaseConnection.from_url(filled) as admin:
            while not admin.execute("SELECT 1 AS x FROM information_schema.processlist WHERE info LIKE %s",
                                    (f"%/* {marker} */%",)).rows:
                time.sleep(0.05)
        manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=filled)
        result = manager.create_backup("app", chainable=True, workers=2)
    finally:
        thread.join()
    assert result.success, result.error_message
    dump = manifest_of(manager, result.backup_id)["dump"]
    assert dump["parallel"] is False
    assert "1205" in dump["parallel_fallback"]  # ER_LOCK_WAIT_TIMEOUT
    with scratch_database(server_url("mysql"), prefix="dbk_par") as target:
        manager.restore_backup(result.backup_id, target)
        assert client_dump(target) == expected


def test_sessions_that_cannot_connect_fall_back(user_without_reload: DatabaseURL, filled: DatabaseURL,
                                                 tmp_path: Path) -> None:
    """A connection limit below the number of workers: one session does the work, the reason is recorded
    (without the password)."""
    url = user_without_reload
    with DatabaseConnection.from_url(filled) as admin:
        admin.execute(f"GRANT RELOAD ON *.* TO '{url.username}'@'%'")
        admin.execute(f"ALTER USER '{url.username}'@'%' WITH MAX_USER_CONNECTIONS 2")
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    result = manager.create_backup("app", chainable=True, workers=3)
    assert result.success, result.error_message
    dump = manifest_of(manager, result.backup_id)["dump"]
    assert dump["parallel"] is False
    assert "could not open 3 client sessions" in dump["parallel_fallback"]
    assert "max_user_connections" in dump["parallel_fallback"]
    assert (url.password or "") not in dump["parallel_fallback"]
    assert _mysql_children() == []
    with scratch_database(server_url("mysql"), prefix="dbk_par") as target:
        manager.restore_backup(result.backup_id, target)
        assert client_dump(target) == client_dump(filled)


def test_a_failing_part_fails_the_backup_cleanly_without_the_password(user_without_reload: DatabaseURL,
                                                                        filled: DatabaseURL,
                                                                        tmp_path: Path) -> None:
    """A table whose rows cannot be read (its tablespace is discarded) fails its part: the backup reports the
    server's error, leaves no file and no client process, and never shows the password."""
    url = user_without_reload
    password = url.password or ""
    with DatabaseConnection.from_url(filled) as admin:
        admin.execute(f"GRANT RELOAD ON *.* TO '{url.username}'@'%'")
        assert dump_stream(url, 2)[1]["parallel"] is True  # this user's backups run in parallel
        admin.execute("CREATE TABLE zz_broken (id int PRIMARY KEY, v text)")
        admin.execute("INSERT INTO zz_broken VALUES (1, 'x')")
        admin.execute("ALTER TABLE zz_broken DISCARD TABLESPACE")
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=url)
    result = manager.create_backup("app", chainable=True, workers=2)
    assert not result.success
    message = result.error_message or ""
    assert "zz_broken" in message and "discarded" in message, message
    assert password not in message
    assert manager.get_backups() == []
    assert not [p for p in (tmp_path / "ws").rglob("*") if p.is_file() and p.suffix != ".db"]
    assert _mysql_children() == []
