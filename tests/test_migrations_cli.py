"""``dbkeeper migrate``: every subcommand through click's runner, plus the standalone entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.migrate import migrate
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    directory = h.write_migrations(tmp_path / "migrations", {
        "0001_users": ("-- description: users\nCREATE TABLE users (id INTEGER PRIMARY KEY);", "DROP TABLE users;"),
        "0002_posts": ("-- depends: 0001\nCREATE TABLE posts (id INTEGER PRIMARY KEY);", "DROP TABLE posts;"),
    })
    return directory, f"sqlite:///{tmp_path / 'app.db'}"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(migrate, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_up_status_down_round_trip_with_json(project: tuple[Path, str]) -> None:
    directory, url = project
    code, out, err = invoke("up", "--db", url, "--dir", str(directory), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["success"] is True and [r["migration_id"] for r in data["results"]] == ["0001", "0002"]

    code, out, _ = invoke("status", "--db", url, "--dir", str(directory), "--json")
    status = json.loads(out)
    assert code == 0 and status["ok"] is True
    assert status["summary"]["applied"] == 2
    assert [m["state"] for m in status["migrations"]] == ["applied", "applied"]

    code, out, _ = invoke("down", "--db", url, "--dir", str(directory), "--json")
    assert code == 0 and [r["migration_id"] for r in json.loads(out)["results"]] == ["0002"]


def test_options_may_come_before_the_subcommand_and_the_url_from_the_environment(project: tuple[Path, str]) -> None:
    directory, url = project
    code, out, err = invoke("--dir", str(directory), "up", env={"DBKEEPER_URL": url})
    assert code == 0, err
    assert "applied 2 of 2 migration(s)" in out
    assert "applied 0001 users" in out and "applied 0002 posts" in out


def test_status_prints_a_readable_table(project: tuple[Path, str]) -> None:
    directory, url = project
    invoke("up", "--db", url, "--dir", str(directory), "--to", "0001")
    code, out, _ = invoke("status", "--db", url, "--dir", str(directory))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["ID", "NAME", "STATE", "APPLIED", "AT", "BY", "NOTE"]
    assert lines[1].split()[:3] == ["0001", "users", "applied"]
    assert lines[2].split()[:3] == ["0002", "posts", "pending"]
    assert "2 migrations in" in out and "1 applied, 1 pending" in out


def test_dry_run_prints_the_sql_in_order_and_creates_nothing(project: tuple[Path, str], tmp_path: Path) -> None:
    directory, url = project
    code, out, _ = invoke("up", "--db", url, "--dir", str(directory), "--dry-run")
    assert code == 0
    assert out.index("-- up 0001 users (in one transaction)") < out.index("CREATE TABLE users")
    assert out.index("CREATE TABLE users (id INTEGER PRIMARY KEY);") < out.index("CREATE TABLE posts")
    assert h.tables(DatabaseURL.parse(url)) == set()


def test_errors_exit_with_status_1_and_a_message(project: tuple[Path, str]) -> None:
    directory, url = project
    (directory / "0003_bad.json").write_text("{not json")
    code, out, err = invoke("up", "--db", url, "--dir", str(directory))
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "0003_bad.json is not valid JSON" in err
    code, out, _ = invoke("up", "--db", url, "--dir", str(directory), "--json")
    assert code == 1 and json.loads(out)["error_type"] == "MigrationFileError"


def test_a_failed_migration_exits_1_and_names_the_statement(project: tuple[Path, str]) -> None:
    directory, url = project
    h.write_migrations(directory, {"0003_broken": ("CREATE TABLE fine (x INTEGER);\nSELECT * FROM nowhere;", None)})
    code, _, err = invoke("up", "--db", url, "--dir", str(directory))
    assert code == 1
    assert "FAILED 0003 broken" in err and "statement 2 of 2" in err and "nowhere" in err


def test_new_scaffolds_sql_pairs_and_json_with_the_next_id(project: tuple[Path, str]) -> None:
    directory, _ = project
    code, out, _ = invoke("new", "Add comments!", "--dir", str(directory), "--depends", "0002",
                          "--description", "comments table")
    assert code == 0
    up = directory / "0003_add_comments.up.sql"
    assert f"created {up}" in out and (directory / "0003_add_comments.down.sql").exists()
    header = up.read_text().splitlines()[:3]
    assert header[0] == "-- description: comments table" and header[2] == "-- depends: 0002"
    assert header[1].startswith("-- created: 20")
    code, out, _ = invoke("new", "seed data", "--dir", str(directory), "--format", "json", "--json")
    data = json.loads(out)
    assert data["id"] == "0004" and data["files"][0].endswith("0004_seed_data.json")


def test_baseline_then_up_runs_only_what_is_left(project: tuple[Path, str]) -> None:
    directory, url = project
    code, out, _ = invoke("baseline", "--db", url, "--dir", str(directory), "--to", "0001", "--dry-run")
    assert code == 0 and "would mark 1 migration(s)" in out
    code, out, _ = invoke("baseline", "--db", url, "--dir", str(directory), "--to", "0001", "--json")
    assert json.loads(out) == {"success": True, "dry_run": False, "baselined": ["0001"]}
    code, out, _ = invoke("up", "--db", url, "--dir", str(directory), "--json")
    assert [r["migration_id"] for r in json.loads(out)["results"]] == ["0002"]
    assert h.tables(DatabaseURL.parse(url)) == {"posts", "dbkeeper_migrations"}


def test_repair_lists_problems_and_accepts_a_changed_checksum(project: tuple[Path, str]) -> None:
    directory, url = project
    invoke("up", "--db", url, "--dir", str(directory))
    (directory / "0002_posts.up.sql").write_text("-- depends: 0001\nCREATE TABLE posts (id BIGINT PRIMARY KEY);")
    code, _, err = invoke("up", "--db", url, "--dir", str(directory))
    assert code == 1 and "0002" in err and "recorded checksum" in err and "file checksum" in err
    code, out, _ = invoke("repair", "--db", url, "--dir", str(directory))
    assert code == 0 and "0002: drifted" in out and "--accept-checksum" in out
    code, out, _ = invoke("repair", "0002", "--accept-checksum", "--db", url, "--dir", str(directory))
    assert code == 0 and "accepted the changed file of 0002" in out
    code, out, _ = invoke("repair", "--db", url, "--dir", str(directory))
    assert out.strip() == "nothing needs repair"


def test_a_missing_database_setting_is_a_clear_error(project: tuple[Path, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    directory, _ = project
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DBKEEPER_URL", raising=False)
    monkeypatch.setenv("DBKEEPER_CONFIG", "")
    code, _, err = invoke("status", "--dir", str(directory))
    assert code == 2 and "no database given" in err


def test_the_group_runs_standalone_as_a_module(project: tuple[Path, str]) -> None:
    directory, url = project
    done = h.run_cli(["up", "--db", url, "--dir", str(directory), "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["successful"] == 2
    helped = h.run_cli(["--help"])
    assert helped.returncode == 0
    for command in ("up", "down", "status", "new", "repair", "baseline"):
        assert command in helped.stdout


def test_passwords_never_reach_the_output(project: tuple[Path, str]) -> None:
    directory, _ = project
    url = "postgresql://someone:S3cr%40t-pw@127.0.0.1:1/nowhere?connect_timeout=1"
    code, out, err = invoke("status", "--db", url, "--dir", str(directory))
    assert code in (1, 2)
    assert "S3cr@t-pw" not in out + err and "S3cr%40t-pw" not in out + err
