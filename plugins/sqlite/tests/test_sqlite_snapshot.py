"""The SQLite dump's two ways to take a page image, and when each is safe.

The direct read (the file read under a read transaction) is only correct
when no page of the snapshot lives in a write-ahead log. These tests write
from other connections *while* the page image streams (from inside the
sink's ``write``) and check the image is the state at the start; and they
leave committed frames in a WAL and check the dump falls back to the online
backup API copy, which sees them.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL
from dbkeeper_sqlite import dump as sqlite_dump

DIRECT = "SQLite page image read under a read transaction"
COPY = "sqlite3 online backup API"


def seed(path: Path, *, journal_mode: str, rows: int = 3000) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 200) for i in range(rows)])
    conn.execute("COMMIT")
    conn.close()  # the last connection checkpoints: the WAL holds no frames now


class Sink(io.RawIOBase):
    """Collects the dump; calls ``during`` once, after the first piece (the read transaction is open)."""

    def __init__(self, during: Any = None) -> None:
        super().__init__()
        self.data = bytearray()
        self.during = during

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return len(b)


def take(path: Path, sink: Sink, **options: Any) -> dict[str, Any]:
    # journal_mode=delete: the connection must leave the file's journal mode as the test set it
    url = DatabaseURL(scheme="sqlite", database=str(path), query=(("journal_mode", "delete"),))
    with DatabaseConnection.from_url(url) as conn:
        return sqlite_dump.dump(conn, sink, {"include_schema": True, "include_data": True, **options})


def rows_of(image: bytes, tmp_path: Path) -> tuple[int, list[str], tuple[int, int]]:
    """Row count, integrity check and header file-format bytes of a dumped page image."""
    path = tmp_path / "image.db"
    path.write_bytes(image)
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT COUNT(*) FROM t").fetchone()[0],
                [r[0] for r in conn.execute("PRAGMA integrity_check")], (image[18], image[19]))
    finally:
        conn.close()
        path.unlink()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_an_idle_database_is_read_directly_and_restores_exactly(tmp_path: Path, journal_mode: str) -> None:
    db = tmp_path / "app.db"
    seed(db, journal_mode=journal_mode)
    sink = Sink()
    meta = take(db, sink)
    assert meta["tool"] == DIRECT
    assert meta["tables"] == {"t": 3000}
    assert rows_of(bytes(sink.data), tmp_path) == (3000, ["ok"], (1, 1))
    assert (db.read_bytes()[18], db.read_bytes()[19]) == ((2, 2) if journal_mode == "wal" else (1, 1))
    # the same snapshot through the copy: the same page image, byte for byte
    copied = Sink()
    assert sqlite_dump._copy(db.resolve(), copied, include_data=True) == {"t": 3000}
    assert bytes(copied.data[100:]) == bytes(sink.data[100:])


def test_wal_writers_and_checkpoints_during_a_direct_read_do_not_reach_the_image(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    seed(db, journal_mode="wal")
    writer = sqlite3.connect(db, isolation_level=None, timeout=5)
    calls: list[Any] = []

    def write_and_checkpoint() -> None:
        writer.execute("BEGIN")
        writer.execute("DELETE FROM t WHERE id < 2500")
        writer.executemany("INSERT INTO t VALUES (?, ?)", [(10_000 + i, "y" * 300) for i in range(2000)])
        writer.execute("COMMIT")
        calls.append(writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    sink = Sink(write_and_checkpoint)
    meta = take(db, sink)
    writer.close()
    assert meta["tool"] == DIRECT
    # the checkpoint ran but could not copy a frame into the file while the read transaction held it
    assert calls and calls[0][0] == 0 and calls[0][2] < calls[0][1]
    assert meta["tables"] == {"t": 3000}
    assert rows_of(bytes(sink.data), tmp_path)[:2] == (3000, ["ok"])


def test_rollback_journal_writers_wait_for_the_direct_read(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    seed(db, journal_mode="delete")
    writer = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    refused: list[str] = []

    def try_to_write() -> None:
        try:
            writer.execute("DELETE FROM t")
        except sqlite3.OperationalError as exc:
            refused.append(str(exc))

    sink = Sink(try_to_write)
    meta = take(db, sink)
    assert meta["tool"] == DIRECT
    assert refused == ["database is locked"]
    assert rows_of(bytes(sink.data), tmp_path)[:2] == (3000, ["ok"])
    writer.execute("DELETE FROM t")  # after the dump the writer gets in
    writer.close()


def test_a_wal_holding_frames_is_copied_through_the_backup_api(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    seed(db, journal_mode="wal")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA wal_autocheckpoint = 0")  # keep the new rows in the log only
    holder.execute("INSERT INTO t VALUES (99999, 'only in the WAL')")
    assert Path(f"{db}-wal").stat().st_size > 0
    sink = Sink()
    meta = take(db, sink)
    holder.close()
    assert meta["tool"] == COPY
    assert meta["tables"] == {"t": 3001}
    assert rows_of(bytes(sink.data), tmp_path) == (3001, ["ok"], (1, 1))


def test_a_schema_only_dump_copies_and_empties_the_tables(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    seed(db, journal_mode="wal")
    sink = Sink()
    meta = take(db, sink, include_data=False)
    assert meta["tool"] == COPY
    assert meta["tables"] == {"t": 0}
    assert rows_of(bytes(sink.data), tmp_path)[:2] == (0, ["ok"])
