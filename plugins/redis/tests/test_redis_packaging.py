"""dbkeeper-redis installs next to the core like any third-party plugin and is discovered by its entry point.

Wheels are built the way ``tests/test_packaging.py`` builds them (``python
-m build --no-isolation``), installed into a fresh virtual environment with
nothing else from this checkout, and the installed CLI must list the plugin
and reach the real server through it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from dbkeeper.urls import DatabaseURL

ROOT = Path(__file__).resolve().parents[3]
PROJECTS = {"dbkeeper": ROOT, "dbkeeper_sqlite": ROOT / "plugins/sqlite", "dbkeeper_redis": ROOT / "plugins/redis"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for project in PROJECTS.values():
        subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out),
                        str(project)], check=True, capture_output=True, timeout=300)
    return out


def test_the_wheel_declares_the_entry_point_and_ships_the_package(dist: Path) -> None:
    (wheel,) = dist.glob("dbkeeper_redis-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "[dbkeeper]" in entry_points and "redis = dbkeeper_redis" in entry_points
    assert "dbkeeper_redis/py.typed" in names
    assert "Requires-Dist: redis>=5" in metadata


def test_the_core_does_not_name_redis_beyond_its_database_type() -> None:
    for path in (ROOT / "core/dbkeeper").rglob("*.py"):
        assert "dbkeeper_redis" not in path.read_text(), path


@pytest.mark.slow
def test_a_fresh_environment_discovers_the_plugin(dist: Path, tmp_path: Path, redis_url: DatabaseURL) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    wheels = [str(next(dist.glob(f"{package}-*.whl"))) for package in PROJECTS]
    subprocess.run([str(python), "-m", "pip", "install", "-q", *wheels], check=True, capture_output=True,
                   timeout=600)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DBKEEPER")}
    script = env_dir / "bin" / "dbkeeper"
    listed = subprocess.run([str(script), "plugins", "--json"], capture_output=True, text=True, env=clean_env,
                            timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    plugins = {p["name"]: p for p in (data["plugins"] if isinstance(data, dict) else data)}
    redis_plugin = plugins["redis"]
    assert redis_plugin["status"] == "loaded", redis_plugin["error"]
    assert redis_plugin["distribution"] == "dbkeeper-redis"
    assert redis_plugin["dialects"][0]["schemes"] == ["redis", "rediss"]
    assert "postgres" not in plugins and "mysql" not in plugins
    health = subprocess.run([str(script), "health", "--db", redis_url.render(), "--json"], capture_output=True,
                            text=True, env=clean_env, timeout=60, check=False)
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["dialect"] == "redis"
