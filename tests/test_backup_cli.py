"""``dbkeeper backup`` commands and the demo step, in-process with click's CliRunner."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.backup import backup
from dbkeeper.demo.backup import run_backup_demo, run_chain_demo


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"v{i}",) for i in range(500)])
    conn.commit()
    conn.close()
    return path


def test_create_list_verify_restore_delete_with_json(database: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    created = runner.invoke(backup, ["create", "--db", f"sqlite:///{database}", "--workspace", ws, "--json"])
    assert created.exit_code == 0, created.output
    backup_id = json.loads(created.output)["backup_id"]
    listed = json.loads(runner.invoke(backup, ["list", "--workspace", ws, "--json"]).output)
    assert [b["backup_id"] for b in listed] == [backup_id]
    for level in ("quick", "full", "deep"):
        verified = runner.invoke(backup, ["verify", backup_id, "--level", level, "--workspace", ws, "--json"])
        assert verified.exit_code == 0 and json.loads(verified.output)["success"], verified.output
    target = tmp_path / "restored.db"
    restored = runner.invoke(backup, ["restore", backup_id, "--to", f"sqlite:///{target}", "--workspace", ws])
    assert restored.exit_code == 0, restored.output
    assert sqlite3.connect(target).execute("SELECT COUNT(*) FROM t").fetchone() == (500,)
    again = runner.invoke(backup, ["restore", backup_id, "--to", f"sqlite:///{target}", "--workspace", ws])
    assert again.exit_code == 1 and "not empty" in again.output
    deleted = runner.invoke(backup, ["delete", backup_id, "--workspace", ws, "--json"])
    assert json.loads(deleted.output) == {"backup_id": backup_id, "deleted": True}


def test_passphrase_comes_from_the_environment_and_is_never_printed(database: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    secret = "environment passphrase 42"
    env = {"DBKEEPER_BACKUP_PASSPHRASE": secret}
    created = runner.invoke(backup, ["create", "--db", f"sqlite:///{database}", "--encrypt", "--kdf", "scrypt",
                                     "--workspace", ws, "--json"], env=env)
    assert created.exit_code == 0, created.output
    backup_id = json.loads(created.output)["backup_id"]
    listed = runner.invoke(backup, ["list", "--workspace", ws])
    assert "encrypted" in listed.output
    bad = runner.invoke(backup, ["verify", backup_id, "--workspace", ws],
                        env={"DBKEEPER_BACKUP_PASSPHRASE": "wrong passphrase!"})
    assert bad.exit_code == 1 and "wrong passphrase" in bad.output
    good = runner.invoke(backup, ["verify", backup_id, "--workspace", ws], env=env)
    assert good.exit_code == 0, good.output
    for result in (created, listed, bad, good):
        assert secret not in result.output
    for root, _, names in os.walk(ws):
        for name in names:
            assert secret.encode() not in (Path(root) / name).read_bytes()


def test_demo_backs_up_verifies_and_restores_into_a_new_file(database: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    run_backup_demo(tmp_path / "demo", f"sqlite:///{database}", lines.append)
    text = "\n".join(lines)
    assert "verify deep: ok" in text and "restored into" in text and "tables t" in text


def test_chain_demo_shows_incrementals_prune_pin_and_rekey_and_can_run_again(tmp_path: Path) -> None:
    for _ in range(2):  # a second run in the same directory starts from scratch
        lines: list[str] = []
        run_chain_demo(tmp_path, lines.append)
    text = "\n".join(lines)
    sizes = [float(m) for m in re.findall(r"\(([\d.]+)% of the full\)", text)]
    assert len(sizes) == 3 and all(size < 20 for size in sizes), text  # two incrementals and a differential
    assert "restored all 4 backups" in text
    assert "refused: backup" in text and "needed by 3 other backup(s)" in text
    assert re.search(r"kept \S+ \(last\), \S+ \(pinned\), \S+ \(needed by a kept backup\)", text), text
    assert "the new key restores it, the old one is refused" in text
    keys = sorted(tmp_path.glob("chain-*.key"))
    assert [key.name for key in keys] == ["chain-new.key", "chain-old.key"]
    assert all(key.stat().st_mode & 0o777 == 0o600 for key in keys)
