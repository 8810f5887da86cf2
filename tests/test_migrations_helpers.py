"""Shared helpers for the migration tests (collected by pytest, but holds no tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]

#: A statement that takes about ``seconds`` on each dialect (used to widen race and kill windows).
SLEEP = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT count(*) FROM c",
    "postgres": "SELECT pg_sleep({s})",
    "mysql": "SELECT SLEEP({s})",
}


def sleep_sql(dialect: str, seconds: float) -> str:
    """A statement that keeps the database busy for roughly ``seconds``."""
    return SLEEP[dialect].format(s=seconds, n=int(seconds * 4_000_000))


def write_migrations(directory: Path, migrations: Mapping[str, tuple[str, str | None]]) -> Path:
    """Write ``{"0001_name": (up_sql, down_sql_or_None)}`` as ``.up.sql``/``.down.sql`` pairs."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, (up, down) in migrations.items():
        (directory / f"{stem}.up.sql").write_text(up, encoding="utf-8")
        if down is not None:
            (directory / f"{stem}.down.sql").write_text(down, encoding="utf-8")
    return directory


def connect(url: DatabaseURL) -> DatabaseConnection:
    """A connected helper connection (the test closes it)."""
    return DatabaseConnection.from_url(url, name="inspector", pool_size=2).connect()


def tables(url: DatabaseURL) -> set[str]:
    """User table names in the database at ``url`` (lower case)."""
    conn = connect(url)
    try:
        if url.scheme == "sqlite":
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                "AND name NOT LIKE 'sqlite_%'").rows
            return {r["name"].lower() for r in rows}
        if url.scheme.startswith("postgres"):
            rows = conn.execute("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()").rows
        else:
            rows = conn.execute("SELECT table_name AS name FROM information_schema.tables "
                                "WHERE table_schema = DATABASE()").rows
        return {str(r["name"]).lower() for r in rows}
    finally:
        conn.disconnect()


def query(url: DatabaseURL, sql: str, params: object = None) -> list[dict[str, object]]:
    """Rows of one query on a fresh connection."""
    conn = connect(url)
    try:
        return conn.execute(sql, params).rows
    finally:
        conn.disconnect()


def dialect_name(url: DatabaseURL) -> str:
    """``sqlite``, ``postgres`` or ``mysql``."""
    return "postgres" if url.scheme.startswith("postgres") else url.scheme


def cli_command(*args: str) -> list[str]:
    """The command line of ``dbkeeper migrate ARGS`` as a separate process."""
    return [sys.executable, "-m", "dbkeeper.cli.commands.migrate", *args]


def run_cli(args: Sequence[str], *, timeout: float = 120, env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``dbkeeper migrate ARGS`` in a subprocess and capture its output."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd, check=False)
