"""The four distributions build separately, and a plain core install handles sqlite:// URLs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {"dbkeeper": ROOT, "dbkeeper_sqlite": ROOT / "plugins/sqlite",
            "dbkeeper_postgres": ROOT / "plugins/postgres", "dbkeeper_mysql": ROOT / "plugins/mysql"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for project in PROJECTS.values():
        subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
                       check=True, capture_output=True, timeout=300)
    return out


def test_every_distribution_builds_a_wheel_and_an_sdist(dist: Path) -> None:
    for package in PROJECTS:
        assert len(list(dist.glob(f"{package}-*.whl"))) == 1, package
        assert len(list(dist.glob(f"{package}-*.tar.gz"))) == 1, package


def test_the_root_sdist_does_not_contain_the_plugins(dist: Path) -> None:
    (sdist,) = dist.glob("dbkeeper-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(n.endswith("core/dbkeeper/engine/connection.py") for n in names)
    assert not any("/plugins/" in n for n in names)


@pytest.mark.parametrize("package", ["dbkeeper_sqlite", "dbkeeper_postgres", "dbkeeper_mysql"])
def test_each_plugin_wheel_declares_its_entry_point(dist: Path, package: str) -> None:
    (wheel,) = dist.glob(f"{package}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
        assert "[dbkeeper]" in text and f"= {package}" in text
        assert any(n.startswith(f"{package}/") for n in archive.namelist())


@pytest.mark.slow
def test_a_plain_core_install_handles_sqlite_urls(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    (core,) = dist.glob("dbkeeper-*.whl")
    (sqlite_wheel,) = dist.glob("dbkeeper_sqlite-*.whl")
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(core), str(sqlite_wheel)], check=True,
                   capture_output=True, timeout=600)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DBKEEPER")}
    script = env_dir / "bin" / "dbkeeper"
    database = tmp_path / "plain.db"
    result = subprocess.run([str(script), "query", "SELECT 6 * 7 AS answer", "--db", f"sqlite:///{database}",
                             "--format", "json"], capture_output=True, text=True, env=clean_env, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout
    missing = subprocess.run([str(script), "tables", "--db", "postgresql://u@127.0.0.1/d"], capture_output=True,
                             text=True, env=clean_env, timeout=60, check=False)
    assert missing.returncode == 2
    assert 'pip install "dbkeeper[postgres]"' in missing.stderr
