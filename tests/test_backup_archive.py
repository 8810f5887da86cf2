"""The archive format refuses every kind of damage, on SQLite (fast, no server needed).

Each test makes a real backup of a real SQLite file, damages the archive in
one way, and checks that verification and restore both stop with a clear
error before the restore target is touched.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from dbkeeper.backup import BackupManager, CorruptBackupError, EncryptionError, EncryptionSettings
from dbkeeper.backup.archive import ArchiveReader
from dbkeeper.backup.crypto import KEY_ENV
from dbkeeper.urls import DatabaseURL

#: A cheap KDF for tests only, passed explicitly: the default is never weakened.
FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "correct horse battery staple"


def make_database(path: Path, rows: int = 3000) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, data BLOB)")
    conn.executemany("INSERT INTO items (name, price, data) VALUES (?, ?, ?)",
                     [(f"item {i}", i * 0.25, os.urandom(16)) for i in range(rows)])
    conn.execute("CREATE INDEX items_name ON items (name)")
    conn.commit()
    conn.close()


def snapshot(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        schema = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")]
        rows = conn.execute("SELECT * FROM items ORDER BY id").fetchall()
    finally:
        conn.close()
    return schema, rows


def encryption() -> EncryptionSettings:
    return EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF)


@pytest.fixture
def source(dbkeeper_sqlite_url: DatabaseURL) -> DatabaseURL:
    make_database(Path(dbkeeper_sqlite_url.database or ""))
    return dbkeeper_sqlite_url


@pytest.fixture
def manager(tmp_path: Path, source: DatabaseURL) -> BackupManager:
    return BackupManager(workspace_dir=tmp_path / "workspace", database_url=source)


def frame_offsets(path: Path) -> list[tuple[bytes, int, int]]:
    """(kind, offset, length incl. head and digest) of every frame."""
    with open(path, "rb") as f:
        reader = ArchiveReader(f)
        frames = [(fr.kind, fr.offset, len(fr.payload) + 13 + 32) for fr in reader.frames()]
    return frames


def header_end(path: Path) -> int:
    with open(path, "rb") as f:
        reader = ArchiveReader(f)
        return reader.offset


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_round_trip_restores_an_identical_database(manager: BackupManager, source: DatabaseURL, tmp_path: Path,
                                                    compression: str, encrypted: bool) -> None:
    enc = encryption() if encrypted else None
    result = manager.create_backup("app", compression=compression, encryption=enc, chunk_size=16 << 10)
    assert result.success, result.error_message
    assert result.checksum and result.checksum.startswith("sha256:")
    for level in ("quick", "full", "deep"):
        verdict = manager.verify_backup(result.backup_id, level, encryption=enc)
        assert verdict.success, (level, verdict.error_message)
    target = tmp_path / "restored.db"
    manager.restore_backup(result.backup_id, DatabaseURL(scheme="sqlite", database=str(target)), encryption=enc)
    assert snapshot(target) == snapshot(Path(source.database or ""))


def test_archive_and_catalog_files_are_private(manager: BackupManager) -> None:
    result = manager.create_backup("app", compression="zstd")
    backup = manager.get_backup(result.backup_id)
    assert stat.S_IMODE(os.stat(backup.file_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(manager.catalog.path).st_mode) == 0o600


def test_list_and_delete(manager: BackupManager) -> None:
    first = manager.create_backup("app", compression="gzip")
    second = manager.create_backup("app", compression="zstd")
    assert [b.backup_id for b in manager.get_backups("app")] == [first.backup_id, second.backup_id]
    listed = manager.get_backups()[0]
    assert listed.database_type == "sqlite" and listed.backup_type == "full" and listed.compression == "gzip"
    assert manager.delete_backup(first.backup_id)
    assert not manager.delete_backup(first.backup_id)
    assert [b.backup_id for b in manager.get_backups()] == [second.backup_id]


def test_schema_only_and_data_only(manager: BackupManager, source: DatabaseURL, tmp_path: Path) -> None:
    schema = manager.create_backup("app", include_data=False)
    data = manager.create_backup("app", include_schema=False)
    target = DatabaseURL(scheme="sqlite", database=str(tmp_path / "t.db"))
    manager.restore_backup(schema.backup_id, target)
    original = snapshot(Path(source.database or ""))
    assert snapshot(tmp_path / "t.db") == (original[0], [])
    manager.restore_backup(data.backup_id, target)
    assert snapshot(tmp_path / "t.db") == original


def test_restore_refuses_a_non_empty_target_unless_replacing(manager: BackupManager, source: DatabaseURL,
                                                             tmp_path: Path) -> None:
    from dbkeeper.backup import RestoreTargetError

    result = manager.create_backup("app")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE keep (x)").connection.commit()
    url = DatabaseURL(scheme="sqlite", database=str(other))
    with pytest.raises(RestoreTargetError, match="not empty"):
        manager.restore_backup(result.backup_id, url)
    manager.restore_backup(result.backup_id, url, replace=True)
    assert snapshot(other) == snapshot(Path(source.database or ""))


# -- tampering --------------------------------------------------------------------------------------


def _damaged_restore_leaves_target_alone(manager: BackupManager, backup_id: str, tmp_path: Path,
                                         enc: EncryptionSettings | None = None) -> Exception:
    target = tmp_path / "target.db"
    if not target.exists():
        sqlite3.connect(target).execute("CREATE TABLE precious (x)").connection.commit()
    before = target.read_bytes()
    with pytest.raises((CorruptBackupError, EncryptionError)) as info:
        manager.restore_backup(backup_id, DatabaseURL(scheme="sqlite", database=str(target)), replace=True,
                               encryption=enc)
    assert target.read_bytes() == before
    assert not manager.verify_backup(backup_id, "full", encryption=enc).success
    return info.value


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("region", ["magic", "header", "chunk-head", "chunk-payload", "chunk-digest", "manifest",
                                    "end-marker"])
def test_restore_refuses_a_flipped_byte_in_any_region(manager: BackupManager, tmp_path: Path, region: str,
                                                      encrypted: bool) -> None:
    enc = encryption() if encrypted else None
    result = manager.create_backup("app", compression="zstd", encryption=enc, chunk_size=16 << 10)
    path = Path(manager.get_backup(result.backup_id).file_path)
    frames = frame_offsets(path)
    chunks = [f for f in frames if f[0] == b"C"]
    assert len(chunks) >= 3
    manifest = next(f for f in frames if f[0] == b"M")
    end = frames[-1]
    offsets = {
        "magic": 2, "header": header_end(path) - 40, "chunk-head": chunks[1][1] + 3,
        "chunk-payload": chunks[1][1] + 13 + (chunks[1][2] - 45) // 2, "chunk-digest": chunks[1][1] + chunks[1][2] - 5,
        "manifest": manifest[1] + 13 + 10, "end-marker": end[1] + 14,
    }
    _flip(path, offsets[region])
    _damaged_restore_leaves_target_alone(manager, result.backup_id, tmp_path, enc)
    assert not manager.verify_backup(result.backup_id, "quick").success


@pytest.mark.parametrize("damage", ["truncate-tail", "truncate-middle", "append", "swap-chunks", "drop-chunk"])
def test_restore_refuses_truncation_reordering_and_appended_data(manager: BackupManager, tmp_path: Path,
                                                                 damage: str) -> None:
    result = manager.create_backup("app", compression="none", chunk_size=16 << 10)
    path = Path(manager.get_backup(result.backup_id).file_path)
    data = path.read_bytes()
    chunks = [f for f in frame_offsets(path) if f[0] == b"C"]
    (_, a, alen), (_, b, blen) = chunks[0], chunks[1]
    if damage == "truncate-tail":
        data = data[:-20]
    elif damage == "truncate-middle":
        data = data[: len(data) // 2]
    elif damage == "append":
        data += b"\0" * 64
    elif damage == "swap-chunks":
        assert alen == blen
        data = data[:a] + data[b:b + blen] + data[a:a + alen] + data[b + blen:]
    else:
        data = data[:a] + data[a + alen:]
    path.write_bytes(data)
    error = _damaged_restore_leaves_target_alone(manager, result.backup_id, tmp_path)
    assert str(error)


def test_wrong_passphrase_is_refused_before_the_target_is_touched(manager: BackupManager, tmp_path: Path) -> None:
    result = manager.create_backup("app", encryption=encryption())
    wrong = EncryptionSettings(passphrase="not the passphrase", kdf_params=FAST_KDF)
    error = _damaged_restore_leaves_target_alone(manager, result.backup_id, tmp_path, wrong)
    assert "wrong passphrase" in str(error)
    with pytest.raises(EncryptionError, match="encrypted"):
        manager.restore_backup(result.backup_id, DatabaseURL(scheme="sqlite", database=str(tmp_path / "x.db")))


def test_key_file_and_environment_key(manager: BackupManager, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "backup.key"
    key_file.write_text(os.urandom(32).hex())
    key_file.chmod(0o600)  # a key file others can read is refused
    result = manager.create_backup("app", key_file=key_file)
    assert result.success
    assert manager.verify_backup(result.backup_id, "full", key_file=key_file).success
    monkeypatch.setenv(KEY_ENV, os.urandom(32).hex())
    env = EncryptionSettings(key_env=KEY_ENV)
    second = manager.create_backup("app", encryption=env)
    assert manager.verify_backup(second.backup_id, "full", encryption=env).success
    assert not manager.verify_backup(second.backup_id, "full", key_file=key_file).success


def test_unusable_encryption_is_an_error_before_any_work(manager: BackupManager, tmp_path: Path) -> None:
    with pytest.raises(EncryptionError, match="cannot read"):
        manager.create_backup("app", key_file=tmp_path / "missing.key")
    bad = tmp_path / "short.key"
    bad.write_bytes(b"short")
    bad.chmod(0o600)
    with pytest.raises(EncryptionError, match="32-byte"):
        manager.create_backup("app", key_file=bad)
    assert manager.get_backups() == []
    assert not list((manager.workspace / "backups").glob("*/*")) if (manager.workspace / "backups").exists() else True


def test_default_kdf_parameters_meet_owasp() -> None:
    from dbkeeper.backup.crypto import ARGON2ID_DEFAULTS, SCRYPT_DEFAULTS

    assert ARGON2ID_DEFAULTS["memory_kib"] >= 19456 and ARGON2ID_DEFAULTS["iterations"] >= 2
    assert SCRYPT_DEFAULTS["n"] >= 2**17


def test_nothing_secret_in_any_file_or_output(manager: BackupManager, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    result = manager.create_backup("app", compression="zstd", encryption=encryption())
    print(result, manager.get_backups(), manager.verify_backup(result.backup_id, "full", encryption=encryption()))
    out = capsys.readouterr()
    assert PASSPHRASE not in out.out + out.err
    for path in manager.workspace.rglob("*"):
        if path.is_file():
            assert PASSPHRASE.encode() not in path.read_bytes(), path


def test_key_rotation_rewraps_the_key_without_touching_chunks(manager: BackupManager, tmp_path: Path) -> None:
    old = encryption()
    new = EncryptionSettings(passphrase="a brand new passphrase", kdf="scrypt", kdf_params={"n": 2**10})
    result = manager.create_backup("app", compression="zstd", encryption=old, chunk_size=16 << 10)
    path = Path(manager.get_backup(result.backup_id).file_path)
    before = path.read_bytes()[header_end(path):]
    manager.rotate_key(result.backup_id, old, new)
    assert path.read_bytes()[header_end(path):] == before
    assert manager.verify_backup(result.backup_id, "full", encryption=new).success
    assert not manager.verify_backup(result.backup_id, "full", encryption=old).success
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
