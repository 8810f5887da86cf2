"""Incremental and differential backups: chains restore to exactly each point in time.

Every dialect takes a chain (full, then incrementals with inserts, updates
and deletes in between), and every backup of the chain is restored into a
fresh target and compared with a real client's dump of the source as it was
when that backup was taken.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager, ChainError, DependentBackupsError, EncryptionSettings
from dbkeeper.backup.chunking import FixedChunker, LineChunker

FAST_KDF = {"kdf": "scrypt", "kdf_params": {"n": 2**10, "r": 8, "p": 1}}


# -- chunking ------------------------------------------------------------------------------------------------------
def _rows(n: int, start: int = 0, tag: str = "") -> bytes:
    return b"".join(f"{i}\tname-{i}{tag}\t{i * 7 % 1000}\n".encode() for i in range(start, start + n))


def _cut(chunker: FixedChunker | LineChunker, data: bytes, piece: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(0, len(data), piece):
        out += chunker.feed(data[i:i + piece])
    rest = chunker.flush()
    return [*out, rest] if rest else out


def test_line_chunks_end_on_row_boundaries_whatever_the_write_sizes() -> None:
    data = _rows(20000)
    a = _cut(LineChunker(8192), data, 7)
    b = _cut(LineChunker(8192), data, 65536)
    assert a == b and b"".join(a) == data
    assert all(c.endswith(b"\n") for c in a)
    assert 20 < len(a) < 200


def test_an_update_in_one_key_range_changes_few_line_chunks() -> None:
    before = _rows(50000)
    after = _rows(20000) + _rows(500, 20000, tag="-updated") + _rows(29500, 20500)
    old = set(_cut(LineChunker(8192), before, 4096))
    new = _cut(LineChunker(8192), after, 4096)
    changed = sum(len(c) for c in new if c not in old)
    assert changed < 0.05 * len(after)


def test_fixed_chunks_are_exact() -> None:
    assert [len(c) for c in _cut(FixedChunker(10), b"x" * 35, 3)] == [10, 10, 10, 5]


# -- SQLite chains ---------------------------------------------------------------------------------------------------
def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _make(path: Path, rows: int = 30000) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)")
    conn.execute("CREATE TABLE nokey (v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"name-{i}" * 5, i % 97) for i in range(rows)])
    conn.executemany("INSERT INTO nokey VALUES (?)", [(f"v{i}",) for i in range(100)])
    conn.commit()
    conn.close()


def _mutate(path: Path, step: int) -> None:
    conn = sqlite3.connect(path)
    base = 100000 * (step + 1)
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(base + i, f"new-{step}-{i}", i) for i in range(50)])
    conn.execute("UPDATE t SET score = score + 1000 WHERE id BETWEEN ? AND ?", (step * 100, step * 100 + 30))
    conn.execute("DELETE FROM t WHERE id BETWEEN ? AND ?", (2000 + step * 50, 2000 + step * 50 + 10))
    conn.execute("INSERT INTO nokey VALUES (?)", (f"step{step}",))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("encrypted", [False, True])
def test_sqlite_chain_of_depth_five_restores_every_point(tmp_path: Path, encrypted: bool) -> None:
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    enc = EncryptionSettings(passphrase="chain passphrase", **FAST_KDF) if encrypted else None  # type: ignore[arg-type]
    points: list[tuple[str, list[str]]] = []
    for step in range(6):
        kind = "full" if step == 0 else "incremental"
        result = manager.create_backup("app", backup_type=kind, compression="zstd", encryption=enc)
        assert result.success, result.error_message
        points.append((result.backup_id, _dump(db)))
        _mutate(db, step)
    backups = {b.backup_id: b for b in manager.get_backups("app")}
    full = backups[points[0][0]]
    for (prev, _), (cur, _) in itertools.pairwise(points):
        assert backups[cur].metadata["parent_id"] == prev
        assert backups[cur].backup_type == "incremental"
        assert backups[cur].size_mb < full.size_mb / 2
    for i, (backup_id, expected) in enumerate(points):
        target = tmp_path / f"restored{i}.db"
        manager.restore_backup(backup_id, f"sqlite:///{target}", encryption=enc)
        assert _dump(target) == expected
        assert manager.verify_backup(backup_id, "full", encryption=enc).success
    assert manager.verify_backup(points[-1][0], "deep", encryption=enc).success


def test_differential_builds_on_the_latest_full(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    first = manager.create_backup("app", backup_type="differential")  # no full yet: it becomes one, and says so
    assert first.success and "no full backup of 'app'" in first.warnings[0]
    assert manager.get_backup(first.backup_id).backup_type == "full"
    full = manager.create_backup("app", backup_type="full").backup_id
    _mutate(db, 0)
    inc = manager.create_backup("app", backup_type="incremental").backup_id
    _mutate(db, 1)
    diff = manager.create_backup("app", backup_type="differential")
    assert diff.success, diff.error_message
    expected = _dump(db)
    backups = {b.backup_id: b for b in manager.get_backups("app")}
    assert backups[diff.backup_id].metadata["parent_id"] == full
    assert manager.catalog.depends_on(diff.backup_id) == {full}
    manager.delete_backup(inc)
    target = tmp_path / "diff.db"
    manager.restore_backup(diff.backup_id, f"sqlite:///{target}")
    assert _dump(target) == expected


def test_a_missing_or_damaged_parent_stops_the_restore_before_the_target_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    full = manager.create_backup("app").backup_id
    _mutate(db, 0)
    inc = manager.create_backup("app", backup_type="incremental").backup_id
    target = tmp_path / "target.db"
    _make(target, rows=10)
    before = target.read_bytes()
    full_path = Path(manager.get_backup(full).file_path)
    data = bytearray(full_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    full_path.write_bytes(bytes(data))
    with pytest.raises(ChainError, match=f"needs backup {full}, which is damaged"):
        manager.restore_backup(inc, f"sqlite:///{target}", replace=True)
    assert target.read_bytes() == before
    full_path.unlink()
    with pytest.raises(ChainError, match="is missing"):
        manager.restore_backup(inc, f"sqlite:///{target}", replace=True)
    assert target.read_bytes() == before
    assert not manager.verify_backup(inc, "quick").success


def test_an_incremental_that_stores_every_chunk_itself_verifies_and_restores(tmp_path: Path) -> None:
    """Nothing shared with the base: the archive alone is the stream, checked against ``sequence_sha256``."""
    db = tmp_path / "app.db"
    _make(db, rows=2000)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    assert manager.create_backup("app").success
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA page_size = 8192")  # every page differs from the base's
    conn.execute("CREATE TABLE other (v TEXT)")
    conn.executemany("INSERT INTO other VALUES (?)", [(f"value {i}",) for i in range(3000)])
    conn.commit()
    conn.close()
    inc = manager.create_backup("app", backup_type="incremental")
    assert inc.success, inc.error_message
    backup = manager.get_backup(inc.backup_id)
    assert backup.metadata["reused_bytes"] == 0 and backup.metadata["plain_sha256"] is None
    assert manager.verify_backup(inc.backup_id, "full").success
    target = tmp_path / "target.db"
    manager.restore_backup(inc.backup_id, f"sqlite:///{target}")
    assert _dump(target) == _dump(db)


def test_a_new_incremental_reads_only_its_bases_manifests(tmp_path: Path) -> None:
    """Taking an incremental checks the base chain's structure, manifests and sizes, not its chunks' bytes.

    A flipped byte inside a base chunk is found by ``verify`` and by any
    restore that needs the chunk (up front, the target untouched), as
    restic's ``check --read-data`` would; a base that is truncated, has
    grown, or lost its manifest stops the new backup at once.
    """
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    full = manager.create_backup("app").backup_id
    full_path = Path(manager.get_backup(full).file_path)
    intact = full_path.read_bytes()
    _mutate(db, 0)
    for broken in (intact[:-100], intact + b"x", intact[:len(intact) // 2]):
        full_path.write_bytes(broken)
        with pytest.raises(ChainError, match=f"the base backup {full} cannot be used"):
            manager.create_backup("app", backup_type="incremental")
        assert [b.backup_id for b in manager.get_backups("app")] == [full]
    damaged = bytearray(intact)
    damaged[len(damaged) // 2] ^= 0x01  # inside a chunk's payload
    full_path.write_bytes(bytes(damaged))
    inc = manager.create_backup("app", backup_type="incremental")
    assert inc.success, inc.error_message
    assert not manager.verify_backup(full, "full").success
    target = tmp_path / "target.db"
    with pytest.raises(ChainError, match=f"needs backup {full}, which is damaged"):
        manager.restore_backup(inc.backup_id, f"sqlite:///{target}")
    assert not target.exists()
    full_path.write_bytes(intact)
    manager.restore_backup(inc.backup_id, f"sqlite:///{target}")
    assert _dump(target) == _dump(db)


def test_deleting_a_parent_is_refused_unless_cascaded(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    ids = [manager.create_backup("app").backup_id]
    for step in range(3):
        _mutate(db, step)
        ids.append(manager.create_backup("app", backup_type="incremental").backup_id)
    with pytest.raises(DependentBackupsError, match="needed by 2 other"):
        manager.delete_backup(ids[1])
    assert manager.delete_backup(ids[-1])
    assert manager.delete_backup(ids[1], cascade=True)
    assert [b.backup_id for b in manager.get_backups("app")] == ids[:1]
    assert not list(Path(tmp_path / "ws").rglob(f"{ids[2]}*"))


def test_encryption_must_match_the_base(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    manager.create_backup("app")
    enc = EncryptionSettings(passphrase="chain passphrase", **FAST_KDF)  # type: ignore[arg-type]
    with pytest.raises(ChainError, match="not encrypted"):
        manager.create_backup("app", backup_type="incremental", encryption=enc)


def test_a_dialect_without_the_capability_gets_a_clear_error(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from dbkeeper.backup.errors import BackupError
    from dbkeeper.engine.connection import DatabaseConnection

    db = tmp_path / "app.db"
    _make(db)
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    dialect_type = type(DatabaseConnection.from_url(f"sqlite:///{db}").dialect)
    monkeypatch.setattr(dialect_type, "capabilities", dataclasses.replace(dialect_type.capabilities, incremental=False))
    with pytest.raises(BackupError, match="does not support incremental backups"):
        manager.create_backup("app", backup_type="incremental")
    assert manager.create_backup("app").success


_KILL_CHILD = """
import sys, time
from dbkeeper.backup import BackupManager
from dbkeeper.backup import pipeline

real = pipeline.ChunkSink._drain_one
def slow(self):
    real(self)
    print("frame", flush=True)
    time.sleep(0.05)
pipeline.ChunkSink._drain_one = slow
manager = BackupManager(workspace_dir=sys.argv[1], database_url="sqlite:///" + sys.argv[2])
manager.create_backup("app", backup_type="incremental", chunk_size=None)
"""


def test_sigkill_mid_incremental_leaves_the_chain_intact(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    _make(db, rows=20000)
    ws = tmp_path / "ws"
    manager = BackupManager(workspace_dir=ws, database_url=f"sqlite:///{db}")
    full = manager.create_backup("app").backup_id
    conn = sqlite3.connect(db)
    conn.execute("UPDATE t SET name = name || 'x'")
    conn.commit()
    conn.close()
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(ws), str(db)], stdout=subprocess.PIPE,
                            env={**os.environ})
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"frame")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.05)
    assert [b.backup_id for b in manager.get_backups("app")] == [full]
    inc = manager.create_backup("app", backup_type="incremental")
    assert inc.success, inc.error_message
    assert not list(ws.rglob("*.partial"))
    target = tmp_path / "after.db"
    manager.restore_backup(inc.backup_id, f"sqlite:///{target}")
    assert _dump(target) == _dump(db)


def test_a_version_1_0_archive_still_restores(tmp_path: Path) -> None:
    """An archive as dbkeeper wrote it before chains (no chunk ids, no sequence) restores unchanged."""
    import hashlib
    import json as json_
    from datetime import UTC, datetime

    from dbkeeper.backup.archive import KIND_CHUNK, KIND_END, KIND_MANIFEST, ArchiveWriter
    from dbkeeper.backup.codecs import get_codec
    from dbkeeper.backup.models import Backup

    db = tmp_path / "app.db"
    _make(db, rows=2000)
    plain = db.read_bytes()
    codec = get_codec("zstd", None)
    backup_id = "20250101T000000Z-0ld0ld00"
    core = {"format": "dbkeeper-backup", "version": 1, "backup_id": backup_id,
            "created_at": "2025-01-01T00:00:00+00:00", "backup_type": "full", "parent_id": None,
            "database_type": "sqlite", "dialect": "sqlite",
            "chunk_size": 65536, "compression": {"codec": codec.name, "level": codec.level}, "encryption": None}
    path = tmp_path / "old.dbkb"
    chunks = []
    with open(path, "wb") as f:
        writer = ArchiveWriter(f, {"core": core, "keys": None})
        for index, start in enumerate(range(0, len(plain), 65536)):
            piece = plain[start:start + 65536]
            payload = codec.compress(piece)
            offset, _ = writer.write_frame(KIND_CHUNK, index, payload)
            chunks.append({"index": index, "offset": offset, "stored_size": len(payload), "plain_size": len(piece),
                           "sha256": hashlib.sha256(piece).hexdigest()})
        manifest = {**core, "database_name": "app", "include_schema": True, "include_data": True,
                    "location": {"scheme": "sqlite", "host": None, "port": None, "database": str(db), "username": None},
                    "dump": {"format": "sqlite-database-file", "content": "full"}, "encryption": None,
                    "chunks": chunks, "plain_size": len(plain), "plain_sha256": hashlib.sha256(plain).hexdigest()}
        n = len(chunks)
        writer.write_frame(KIND_MANIFEST, n, json_.dumps(manifest).encode())
        writer.write_frame(KIND_END, n + 1, json_.dumps({"complete": True, "chunks": n, "manifest_chunks": n}).encode())
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{db}")
    manager.catalog.add(Backup(backup_id, "app", "sqlite", "full", str(path), 0.1, datetime.now(UTC), codec.name,
                               False, f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}",
                               {"dialect": "sqlite"}), parent_id=None, size_bytes=path.stat().st_size,
                        plain_bytes=len(plain))
    target = tmp_path / "restored.db"
    manager.restore_backup(backup_id, f"sqlite:///{target}")
    assert _dump(target) == _dump(db)
    assert manager.verify_backup(backup_id, "full").success
    replacement = manager.create_backup("app", backup_type="incremental")  # a full that new chains build on
    assert replacement.success and "older dbkeeper without chunk ids" in replacement.warnings[0]
    assert manager.get_backup(replacement.backup_id).backup_type == "full"
