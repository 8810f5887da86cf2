"""Backup keys: who turns encryption on, how keys are supplied, and what a crafted header may cost (issue 24).

Real SQLite files, real archives, the real ``dbkeeper`` CLI (in a child
process where a terminal, or its absence, matters).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.backup import BackupManager, EncryptionError, EncryptionSettings
from dbkeeper.backup.archive import MAGIC, ArchiveReader, canonical_json
from dbkeeper.backup.errors import KeyFilePermissionError
from dbkeeper.urls import DatabaseURL

FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "a passphrase for key tests"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"v{i}",) for i in range(300)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def manager(tmp_path: Path, database: Path) -> BackupManager:
    return BackupManager(tmp_path / "ws", DatabaseURL(scheme="sqlite", database=str(database)))


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, stdin not a terminal, no backup key unless ``env`` gives one."""
    child = {k: v for k, v in os.environ.items()
             if k not in ("DBKEEPER_BACKUP_PASSPHRASE", "DBKEEPER_BACKUP_KEY", "DBKEEPER_URL")}
    child.update(env or {})
    return subprocess.run([sys.executable, "-m", "dbkeeper.cli", "backup", *args], capture_output=True, text=True,
                          cwd=cwd, env=child, stdin=subprocess.DEVNULL, timeout=120, check=False)


def listed(ws: Path, cwd: Path) -> list[dict[str, Any]]:
    done = cli("list", "--workspace", str(ws), "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


# -- item 5: the environment supplies a key, --encrypt (or an encrypted base) asks for one -------------------
def test_a_passphrase_in_the_environment_does_not_turn_encryption_on(database: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for passphrase in ("a long enough passphrase", "x"):
        done = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws),
                   env={"DBKEEPER_BACKUP_PASSPHRASE": passphrase}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert [b["encryption"] for b in listed(ws, tmp_path)] == [False, False]


def test_encrypt_takes_the_key_from_the_environment_and_an_encrypted_base_asks_for_it(
        database: Path, tmp_path: Path) -> None:
    ws, env = tmp_path / "ws", {"DBKEEPER_BACKUP_PASSPHRASE": PASSPHRASE}
    full = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--encrypt", env=env, cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE t SET v = 'changed' WHERE id = 3")
    inc = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--type", "incremental", env=env,
              cwd=tmp_path)
    assert inc.returncode == 0, inc.stderr
    backups = listed(ws, tmp_path)
    assert [(b["backup_type"], b["encryption"]) for b in backups] == [("full", True), ("incremental", True)]
    target = tmp_path / "restored.db"
    restored = cli("restore", backups[1]["backup_id"], "--to", f"sqlite:///{target}", "--workspace", str(ws),
                   env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert sqlite3.connect(target).execute("SELECT v FROM t WHERE id = 3").fetchone() == ("changed",)
    keyed = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--encrypt",
                env={"DBKEEPER_BACKUP_KEY": "cd" * 32}, cwd=tmp_path)
    assert keyed.returncode == 0, keyed.stderr
    assert listed(ws, tmp_path)[-1]["encryption"] is True


# -- item 8: no terminal, no key: say how to supply it, exit 2 ------------------------------------------------
def test_without_a_terminal_a_missing_key_is_explained_not_prompted_for(database: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    asked = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--encrypt", cwd=tmp_path)
    assert asked.returncode == 2, asked.stderr
    for needed in ("DBKEEPER_BACKUP_PASSPHRASE", "DBKEEPER_BACKUP_KEY", "--key-file", "--passphrase-env"):
        assert needed in asked.stderr, asked.stderr
    assert "Warning" not in asked.stderr and "Traceback" not in asked.stderr, asked.stderr
    assert not (ws / "catalog.db").exists() or listed(ws, tmp_path) == []
    made = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--encrypt",
               env={"DBKEEPER_BACKUP_PASSPHRASE": PASSPHRASE}, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    backup_id = listed(ws, tmp_path)[0]["backup_id"]
    restore = cli("restore", backup_id, "--to", f"sqlite:///{tmp_path / 'r.db'}", "--workspace", str(ws),
                  cwd=tmp_path)
    assert restore.returncode == 2 and "DBKEEPER_BACKUP_PASSPHRASE" in restore.stderr, restore.stderr
    assert "Warning" not in restore.stderr
    assert not (tmp_path / "r.db").exists()


# -- item 7: a key file others can read is refused ------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_readable_by_others_is_refused(manager: BackupManager, tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "backup.key"
    key_file.write_text(os.urandom(32).hex())
    key_file.chmod(mode)
    with pytest.raises(KeyFilePermissionError) as info:
        manager.create_backup("app", key_file=key_file)
    assert f"chmod 600 {key_file}" in str(info.value)
    assert manager.list_backups() == []
    assert not list((tmp_path / "ws").rglob("*.dbkb*"))


def test_a_loose_key_file_is_refused_for_reading_too_and_works_once_fixed(manager: BackupManager, tmp_path: Path,
                                                                          database: Path) -> None:
    key_file = tmp_path / "backup.key"
    key_file.write_text(os.urandom(32).hex())
    key_file.chmod(0o600)
    created = manager.create_backup("app", key_file=key_file)
    assert created.success, created.error_message
    key_file.chmod(0o644)
    verified = manager.verify_backup(created.backup_id, "full", key_file=key_file)
    assert not verified.success and f"chmod 600 {key_file}" in (verified.error_message or "")
    done = cli("create", "--db", f"sqlite:///{database}", "--workspace", str(tmp_path / "ws2"), "--key-file",
               str(key_file), cwd=tmp_path)
    assert done.returncode != 0 and f"chmod 600 {key_file}" in done.stderr, done.stderr
    key_file.chmod(0o400)
    assert manager.verify_backup(created.backup_id, "full", key_file=key_file).success


# -- item 6: a crafted header cannot make verify allocate or spin -------------------------------------------
def rewrite_header(path: Path, mutate: Callable[[dict[str, Any]], None]) -> str:
    """Rewrite the archive's header as an attacker would (valid header checksum); return the new file SHA-256."""
    with open(path, "rb") as f:
        reader = ArchiveReader(f)
        start = reader.offset
    header = reader.header
    mutate(header)
    body = canonical_json(header)
    rest = path.read_bytes()[start:]
    data = MAGIC + len(body).to_bytes(4, "big") + body + hashlib.sha256(body).digest() + rest
    path.write_bytes(data)
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def set_kdf(**values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(header: dict[str, Any]) -> None:
        header["keys"][0]["kdf"].update(values)
    return mutate


CRAFTED = {
    "argon2 64 GiB": ({"memory_kib": 64 << 20}, "memory_kib"),
    "argon2 100000 iterations": ({"iterations": 100_000}, "iterations"),
    "argon2 lanes": ({"lanes": 1 << 20}, "lanes"),
    "argon2 a string": ({"iterations": "2"}, "iterations"),
    "argon2 nothing": ({"memory_kib": None}, "memory_kib"),
    "scrypt huge n": ({"name": "scrypt", "n": 1 << 36, "r": 8, "p": 1}, "n="),
    "scrypt huge r": ({"name": "scrypt", "n": 1 << 14, "r": 1 << 20, "p": 1}, "r="),
    "scrypt huge p": ({"name": "scrypt", "n": 1 << 17, "r": 8, "p": 1 << 20}, "p="),
    "scrypt memory": ({"name": "scrypt", "n": 1 << 20, "r": 32, "p": 1}, "128*n*r"),
    "bad salt": ({"salt": "not base64!"}, "salt"),
}


@pytest.mark.parametrize("crafted", list(CRAFTED), ids=list(CRAFTED))
def test_a_crafted_kdf_header_is_reported_before_any_key_is_derived(manager: BackupManager, crafted: str) -> None:
    values, named = CRAFTED[crafted]
    enc = EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF)
    created = manager.create_backup("app", encryption=enc)
    assert created.success, created.error_message
    backup = manager.get_backup(created.backup_id)
    checksum = rewrite_header(Path(backup.file_path), set_kdf(**values))
    started = time.process_time()
    # A header asking for more than the defaults is compared with the catalog first: the KDF never sees it.
    # (A bad salt costs nothing to refuse and is refused as it is.)
    first = manager.verify_backup(backup.backup_id, "full", encryption=enc)
    expected = "salt" if crafted == "bad salt" else "differs from the catalog"
    assert not first.success and expected in (first.error_message or ""), first.error_message
    # An attacker who rewrote the catalog too meets the bounds.
    manager.catalog.set_checksum(backup.backup_id, checksum, Path(backup.file_path).stat().st_size)
    manager.catalog.set_status(backup.backup_id, "complete")
    second = manager.verify_backup(backup.backup_id, "full", encryption=enc)
    assert not second.success and named in (second.error_message or ""), second.error_message
    assert time.process_time() - started < 30  # a guard against minutes of hashing, not a speed target
    quick = manager.verify_backup(backup.backup_id, "quick")
    assert quick.success  # stored bytes are intact: quick needs no key and derives none


def test_malformed_key_slots_are_reported_not_raised(manager: BackupManager) -> None:
    enc = EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF)
    for mutate in (lambda h: h["keys"][0].pop("wrap"), lambda h: h["keys"][0].update(kdf="argon2id"),
                   lambda h: h["keys"][0]["wrap"].update(nonce="AAAA"), lambda h: h.update(keys=[{}])):
        created = manager.create_backup("app", encryption=enc)
        backup = manager.get_backup(created.backup_id)
        checksum = rewrite_header(Path(backup.file_path), mutate)
        manager.catalog.set_checksum(backup.backup_id, checksum, Path(backup.file_path).stat().st_size)
        result = manager.verify_backup(backup.backup_id, "full", encryption=enc)
        assert not result.success and result.error_message, result


def test_new_backups_cannot_ask_for_more_than_readers_accept(manager: BackupManager) -> None:
    with pytest.raises(EncryptionError, match="memory_kib"):
        manager.create_backup("app", encryption=EncryptionSettings(passphrase=PASSPHRASE,
                                                                   kdf_params={"memory_kib": 4 << 20}))
    assert manager.list_backups() == []
