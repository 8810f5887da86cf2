"""Redaction masks a secret where it stands, never the letters of other words (issue 24).

Replacing every substring equal to a short secret turned "backup passphrase"
into "b***ckup p***ssphr***se" for the passphrase ``a``: the garbling both
ruins the message and shows which letters the secret is made of.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.backup import BackupManager, EncryptionSettings
from dbkeeper.redaction import MASK, redact
from dbkeeper.urls import DatabaseURL

FAST_KDF = {"memory_kib": 1024, "iterations": 1}


def test_a_short_secret_inside_other_words_is_left_alone() -> None:
    text = "wrong passphrase or key for this backup (the data key could not be unwrapped)"
    assert redact(text, ["a", "e", "ss"]) == text


@pytest.mark.parametrize(("text", "expected"), [
    ('password "a" was refused', f'password "{MASK}" was refused'),
    ("postgresql://u:a@h/db", f"postgresql://u:{MASK}@h/db"),
    ("*:*:*:*:a", f"*:*:*:*:{MASK}"),
    ("pw=p%40ss and p@ss and p%2540ss", f"pw={MASK} and {MASK} and {MASK}"),
    ("user hunter2, again (hunter2)", f"user {MASK}, again ({MASK})"),
])
def test_a_secret_standing_as_itself_is_masked(text: str, expected: str) -> None:
    secret = "p@ss" if "p@ss" in text or "p%40ss" in text else "hunter2" if "hunter2" in text else "a"
    assert redact(text, [secret, "p%40ss" if secret == "p@ss" else None]) == expected


@given(st.text(alphabet="abcdef -:@/", min_size=1, max_size=8), st.text(alphabet="abcdef -:@/\"'", max_size=40))
def test_the_secret_never_survives_where_it_stands_alone(secret: str, noise: str) -> None:
    text = f"{noise} '{secret}' {noise}"
    assert f"'{secret}'" not in redact(text, [secret]) or not secret.strip()


def test_a_wrong_short_passphrase_gets_an_intact_message_from_verify(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    sqlite3.connect(database).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.close()
    manager = BackupManager(tmp_path / "ws", DatabaseURL(scheme="sqlite", database=str(database)))
    created = manager.create_backup("app", encryption=EncryptionSettings(passphrase="a long passphrase",
                                                                        kdf_params=FAST_KDF))
    assert created.success, created.error_message
    result = manager.verify_backup(created.backup_id, "full", encryption=EncryptionSettings(passphrase="a"))
    assert not result.success
    assert result.error_message == "wrong passphrase or key for this backup (the data key could not be unwrapped)"


def test_a_short_database_password_does_not_garble_the_servers_message(tmp_path: Path,
                                                                       dbkeeper_postgres_url: DatabaseURL) -> None:
    pg = dbkeeper_postgres_url
    url = f"postgresql://{pg.username}:s@{pg.host}:{pg.port}/{pg.database}_missing"
    env = {k: v for k, v in os.environ.items() if k != "DBKEEPER_URL"}
    done = subprocess.run([sys.executable, "-m", "dbkeeper.cli", "tables", "--db", url], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120, check=False)
    assert done.returncode != 0
    assert f'database "{pg.database}_missing" does not exist' in done.stderr, done.stderr
