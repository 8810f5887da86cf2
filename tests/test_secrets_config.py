"""``${VAR}`` in dbkeeper.toml: passwords with URL delimiters connect to the right server (issue 24).

The shared PostgreSQL trusts every local user, so any password is accepted:
the connection succeeds exactly when host, port and database were parsed
from the right part of the URL.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dbkeeper.config import load_config, resolve_database
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL

HOSTILE = "p@ss:w/rd?x#y%25z%"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dbkeeper.toml"
    path.write_text(text)
    return path


def _connects(url: DatabaseURL) -> int:
    conn = DatabaseConnection.from_url(url, name="secrets-config", connection_pool_size=1, max_retries=0)
    with conn:
        return int(conn.execute("SELECT 41 + 1 AS n").rows[0]["n"])


def test_a_hostile_password_in_a_url_variable_is_percent_encoded(tmp_path: Path,
                                                                 dbkeeper_postgres_url: DatabaseURL) -> None:
    pg = dbkeeper_postgres_url
    path = _write(tmp_path, f'[connections.app]\nurl = "postgresql://{pg.username}:${{APP_PW}}@{pg.host}:{pg.port}/'
                            f'{pg.database}"\n')
    config = load_config(path, environ={"APP_PW": HOSTILE})
    url = config.get("app").url
    assert (url.host, url.port, url.database, url.password) == (pg.host, pg.port, pg.database, HOSTILE)
    assert _connects(url) == 42
    assert "w/rd" not in repr(config.get("app")) and "ss:w" not in str(url)


def test_a_user_name_variable_is_encoded_too_but_a_whole_url_variable_is_not(
        tmp_path: Path, dbkeeper_postgres_url: DatabaseURL) -> None:
    pg = dbkeeper_postgres_url
    path = _write(tmp_path, f'[connections.a]\nurl = "postgresql://${{U}}:${{PW:-x@y}}@{pg.host}:{pg.port}/x"\n'
                            '[connections.b]\nurl = "${WHOLE_URL}"\n')
    config = load_config(path, environ={"U": "po/st", "WHOLE_URL": pg.render(hide_password=False)})
    a = config.get("a").url
    assert (a.username, a.password, a.host, a.database) == ("po/st", "x@y", pg.host, "x")
    assert _connects(config.get("b").url) == 42


def test_a_separate_password_key_works_next_to_a_url(tmp_path: Path, dbkeeper_postgres_url: DatabaseURL) -> None:
    pg = dbkeeper_postgres_url
    path = _write(tmp_path, f'[connections.app]\nurl = "postgresql://{pg.username}@{pg.host}:{pg.port}/{pg.database}"\n'
                            'password = "${APP_PW}"\n')
    url = load_config(path, environ={"APP_PW": HOSTILE}).get("app").url
    assert url.password == HOSTILE and url.host == pg.host
    assert _connects(url) == 42


def test_url_parts_next_to_a_url_are_refused_not_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, '[connections.app]\nurl = "postgresql://u@h/db"\nhost = "elsewhere"\n')
    with pytest.raises(ConfigurationError, match="host"):
        load_config(path).get("app")


def test_an_unset_variable_in_the_default_connection_blocks_only_it(tmp_path: Path) -> None:
    database = tmp_path / "local.db"
    sqlite3.connect(database).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.close()
    _write(tmp_path, 'default = "prod"\n[connections.prod]\nurl = "postgresql://u:${NOPE_UNSET_24}@h/d"\n'
                     f'[connections.local]\nurl = "sqlite:///{database}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DBKEEPER_URL", "DBKEEPER_CONFIG", "NOPE_UNSET_24")}
    env["DBKEEPER_WORKSPACE"] = str(tmp_path / "ws")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dbkeeper.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120, check=False)

    tables = cli("tables", "--db", "local")
    assert tables.returncode == 0 and tables.stdout.split() == ["t"], tables.stderr
    created = cli("backup", "create", "--db", "local")
    assert created.returncode == 0, created.stderr
    prod = cli("tables", "--db", "prod")
    assert prod.returncode == 2 and "NOPE_UNSET_24" in prod.stderr, prod.stderr
    assert resolve_database("local", config=load_config(tmp_path / "dbkeeper.toml", environ={}))[1].database
