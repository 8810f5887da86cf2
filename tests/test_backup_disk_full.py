"""Disk full while writing the catalog: a clean error, and no archive left under its final name.

The catalog lives on a real, full filesystem (a small tmpfs mounted as the
workspace; the archives directory is a bind mount of ordinary disk, so the
archive itself is written and renamed before the catalog insert fails).
Needs root for ``mount``; elsewhere the test reports itself unavailable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.manager import BackupManager
from dbkeeper.cli.commands.backup import backup
from dbkeeper.testing.pytest_plugin import unavailable


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        unavailable(f"cannot mount ({done.stderr.strip()}): needs root")


@pytest.fixture
def full_catalog_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace whose catalog sits on a full tmpfs, its archives on ordinary disk."""
    ws = tmp_path / "ws"
    ws.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(ws))
    archives = tmp_path / "archives"
    archives.mkdir()
    try:
        (ws / "backups").mkdir()
        _mount("--bind", str(archives), str(ws / "backups"))
        try:
            Catalog(ws / "catalog.db")  # the catalog exists; now fill the filesystem it is on
            with open(ws / "filler", "wb", buffering=0) as filler:
                try:
                    while True:
                        filler.write(b"\0" * 4096)
                except OSError:
                    pass
            yield ws
        finally:
            subprocess.run(["umount", str(ws / "backups")], check=False)
    finally:
        subprocess.run(["umount", str(ws)], check=False)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(2000)])
    conn.commit()
    conn.close()
    return path


def _archives(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "backups").rglob("*") if p.is_file())


def test_a_full_catalog_disk_is_a_clean_error_and_leaves_no_archive(full_catalog_workspace: Path,
                                                                     database: Path) -> None:
    ws = full_catalog_workspace
    result = BackupManager(ws).create_backup("app", f"sqlite:///{database}")
    assert not result.success
    assert result.error_message and "full" in result.error_message and "catalog" in result.error_message
    assert _archives(ws) == []
    assert BackupManager(ws).get_backups() == []


def test_the_cli_reports_it_without_a_traceback(full_catalog_workspace: Path, database: Path) -> None:
    ws = full_catalog_workspace
    result = CliRunner().invoke(backup, ["create", "--db", f"sqlite:///{database}", "--workspace", str(ws),
                                         "--json"])
    assert result.exit_code == 1, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    document = json.loads(result.stdout)
    assert document["success"] is False and "full" in document["error_message"]
    assert _archives(ws) == []
    # Space comes back: the next backup works and is the only one listed.
    os.unlink(ws / "filler")
    again = CliRunner().invoke(backup, ["create", "--db", f"sqlite:///{database}", "--workspace", str(ws), "--json"])
    assert again.exit_code == 0, again.output
    assert len(_archives(ws)) == 1 and len(BackupManager(ws).get_backups()) == 1
