"""One error boundary for every command group: ``error:``, exit 2 for usage and configuration, JSON with --json.

Run through the real entry point (``dbkeeper ...`` in-process with click's
runner) and through the groups standalone, as ``python -m`` runs them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dbkeeper.cli import cli
from dbkeeper.cli.commands.backup import backup
from dbkeeper.urls import DatabaseURL


def _run(*args: str, group: object = cli, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(group, list(args), env=env)  # type: ignore[arg-type]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (i INTEGER)")
    conn.commit()
    conn.close()
    return path


USAGE_ERRORS = [
    ["backup", "prune", "--name", "app", "--keep-last", "0"],
    ["backup", "list", "--no-such-option"],
    ["backup", "no-such-command"],
    ["backup", "create", "--db", "postgress://u@h/db"],
    ["backup", "create", "--db", "no_such_connection_name"],
    ["backup", "verify", "b1", "--passphrase-env", "DBK_TEST_UNSET_VARIABLE"],
    ["migrate", "up", "--lock-timeout", "nan"],
    ["migrate", "status", "--no-such-option"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a[:3]))
@pytest.mark.parametrize("standalone", [False, True])
def test_usage_and_configuration_errors_exit_2_with_error_colon(args: list[str], standalone: bool,
                                                                tmp_path: Path) -> None:
    if standalone:
        from dbkeeper.cli.commands.migrate import migrate

        group: object = backup if args[0] == "backup" else migrate
        args = args[1:]
    else:
        group = cli
    result = _run(*args, group=group, env={"DBKEEPER_WORKSPACE": str(tmp_path / "ws"),
                                           "DBKEEPER_CONFIG": str(tmp_path / "none.toml")})
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "error: " in result.stderr, result.stderr
    assert "Error:" not in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["backup", "prune", "--name", "app", "--keep-last", "0", "--json"],
    ["backup", "restore", "no-such-backup", "--json"],
    ["backup", "verify", "no-such-backup", "--json"],
    ["backup", "delete", "no-such-backup", "--json"],
    ["backup", "create", "--db", "postgress://u@h/db", "--json"],
    ["backup", "list", "--bogus", "--json"],
    ["backup", "pin", "no-such-backup", "--json"],
], ids=lambda a: " ".join(a[1:3]))
def test_backup_json_always_prints_one_json_document(args: list[str], tmp_path: Path) -> None:
    result = _run(*args, env={"DBKEEPER_WORKSPACE": str(tmp_path / "ws")})
    assert result.exit_code in (1, 2), result.output
    document = json.loads(result.stdout)
    assert document.get("success") is False or document.get("deleted") is False, document
    if "error" in document:
        assert document["error"] and document["error_type"]


def test_a_failing_backup_error_is_a_clean_operation_error(tmp_path: Path) -> None:
    result = _run("backup", "restore", "no-such-backup", env={"DBKEEPER_WORKSPACE": str(tmp_path / "ws")})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no backup 'no-such-backup'"), result.stderr


def test_a_wrong_password_is_never_echoed_by_the_boundary(tmp_path: Path) -> None:
    result = _run("backup", "create", "--db", "postgresql://u:s3cr3tpw@127.0.0.1:1/db", "--json",
                  env={"DBKEEPER_WORKSPACE": str(tmp_path / "ws")})
    assert result.exit_code == 1
    assert "s3cr3tpw" not in result.output
    assert json.loads(result.stdout)["success"] is False


# -- json values print as JSON -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_jsonb_and_json_values_print_as_json(fmt: str, dbkeeper_postgres_url: DatabaseURL) -> None:
    sql = """SELECT '{"k": 1, "s": "é"}'::jsonb AS j, '[1, {"a": null}]'::json AS l"""
    result = _run("query", sql, "--db", dbkeeper_postgres_url.render(hide_password=False), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "{'k'" not in result.stdout and "None" not in result.stdout
    if fmt == "table":
        assert '{"k": 1, "s": "é"}' in result.stdout and '[1, {"a": null}]' in result.stdout
    else:
        import csv
        import io

        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert json.loads(rows[1][0]) == {"k": 1, "s": "é"} and json.loads(rows[1][1]) == [1, {"a": None}]
