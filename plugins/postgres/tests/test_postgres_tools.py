"""Which PostgreSQL client programs the plugin runs: the real ones, not Debian's perl ``pg_wrapper``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dbkeeper_postgres._client_tools import DEBIAN_BINROOT, client_tool


def _program(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_behind_pg_wrapper_the_newest_installed_version_is_run_directly(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What pg_wrapper itself runs when PGHOST is set, as it always is for dbkeeper's tools."""
    wrapper = _program(tmp_path / "share" / "pg_wrapper", "#!/usr/bin/perl\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pg_dump").symlink_to(wrapper)
    binroot = tmp_path / "lib" / "postgresql"
    for version in ("9.6", "15", "16"):
        _program(binroot / version / "bin" / "pg_dump")
    _program(binroot / "17" / "bin" / "psql")  # a newer version without this program does not count
    (binroot / "18" / "bin").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert client_tool("pg_dump", "install it", binroot=binroot) == str(binroot / "16" / "bin" / "pg_dump")


def test_a_program_that_is_not_the_wrapper_is_run_as_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = _program(tmp_path / "bin" / "pg_dump")
    _program(tmp_path / "lib" / "15" / "bin" / "pg_dump")
    monkeypatch.setenv("PATH", str(own.parent))
    assert client_tool("pg_dump", "install it", binroot=tmp_path / "lib") == str(own)


def test_the_wrapper_is_kept_when_no_version_directory_has_the_program(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = _program(tmp_path / "pg_wrapper", "#!/usr/bin/perl\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "psql").symlink_to(wrapper)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert client_tool("psql", "install it", binroot=tmp_path / "nowhere") == str(tmp_path / "bin" / "psql")


@pytest.mark.skipif(not (shutil.which("pg_dump") and os.path.realpath(shutil.which("pg_dump") or "").endswith(
    "pg_wrapper")), reason="pg_dump on PATH is not Debian's pg_wrapper on this machine")
def test_on_debian_the_programs_come_from_the_versioned_directories() -> None:
    for name in ("pg_dump", "pg_restore", "psql"):
        path = Path(client_tool(name, "install it"))
        assert path.parent.parent.parent == DEBIAN_BINROOT and path.name == name
