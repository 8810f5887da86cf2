"""Issue #23: an empty ``.down.sql`` is a deliberate no-op; ``migrate down --all``; rollback errors name the file.

Against a real SQLite file, PostgreSQL and MariaDB (golang-migrate sets such
as Mattermost's ship empty down files on purpose).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.migrate import migrate
from dbkeeper.migrations import MissingRollbackError, run_migrations
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h

HISTORY = "dbkeeper_migrations"


@pytest.fixture(params=h.DIALECTS)
def db_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def three(directory: Path, second_down: str | None) -> Path:
    return h.write_migrations(directory, {
        "0001_users": ("CREATE TABLE users (id INTEGER PRIMARY KEY);", "DROP TABLE users;"),
        "0002_seed": ("INSERT INTO users (id) VALUES (1);", second_down),
        "0003_tags": ("CREATE TABLE tags (id INTEGER PRIMARY KEY);", "DROP TABLE tags;"),
    })


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(migrate, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def statuses(url: DatabaseURL) -> dict[str, str]:
    return {str(r["id"]): str(r["status"]) for r in h.query(url, f"SELECT id, status FROM {HISTORY}")}


@pytest.mark.parametrize("down_text", ["", "\n  \n"])
def test_an_empty_down_file_is_a_no_op_rollback(tmp_path: Path, db_url: DatabaseURL, down_text: str) -> None:
    directory = three(tmp_path / "m", down_text)
    run_migrations(directory, db_url)
    result = run_migrations(directory, db_url, "down", target="0001")
    assert result["success"] is True and result["migrations_processed"] == 2
    assert statuses(db_url) == {"0001": "applied", "0002": "rolled_back", "0003": "rolled_back"}
    assert "tags" not in h.tables(db_url)
    assert h.query(db_url, "SELECT id FROM users") == [{"id": 1}]  # the no-op left the row


def test_status_says_the_rollback_is_a_no_op(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = three(tmp_path / "m", "")
    url = db_url.render(hide_password=False)
    run_migrations(directory, db_url)
    code, out, err = invoke("status", "--db", url, "--dir", str(directory), "--json")
    assert code == 0, err
    by_id = {m["id"]: m for m in json.loads(out)["migrations"]}
    assert by_id["0002"]["rollback"] == "no-op"
    assert by_id["0001"]["rollback"] == "sql"
    code, out, _ = invoke("status", "--db", url, "--dir", str(directory))
    line = next(x for x in out.splitlines() if x.startswith("0002"))
    assert "rollback is a no-op (empty 0002_seed.down.sql)" in line


def test_a_missing_down_file_still_stops_the_rollback(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = three(tmp_path / "m", None)
    run_migrations(directory, db_url)
    with pytest.raises(MissingRollbackError, match=r"0002_seed\.up\.sql"):
        run_migrations(directory, db_url, "down", target="0001")
    assert statuses(db_url)["0003"] == "applied"


def test_a_comment_only_down_file_is_not_taken_for_a_deliberate_no_op(tmp_path: Path, db_url: DatabaseURL) -> None:
    """``migrate new`` writes a comment-only placeholder: rolling it back must not silently do nothing."""
    directory = three(tmp_path / "m", "-- write the SQL that undoes it here\n")
    run_migrations(directory, db_url)
    with pytest.raises(MissingRollbackError, match=r"0002_seed\.down\.sql"):
        run_migrations(directory, db_url, "down", target="0001")
    assert statuses(db_url)["0003"] == "applied"


def test_a_failing_rollback_names_its_down_file(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = three(tmp_path / "m", "DROP TABLE no_such_table_here;")
    run_migrations(directory, db_url)
    run_migrations(directory, db_url, "down")  # 0003
    result = run_migrations(directory, db_url, "down")
    assert result["success"] is False
    assert "0002_seed.down.sql" in result["result"]["error_message"]


@pytest.mark.parametrize("flag", [("--all",), ("--to", "0")])
def test_down_all_and_to_zero_roll_back_everything(tmp_path: Path, db_url: DatabaseURL, flag: tuple[str, ...]) -> None:
    directory = three(tmp_path / "m", "")
    url = db_url.render(hide_password=False)
    run_migrations(directory, db_url)
    code, out, err = invoke("down", "--db", url, "--dir", str(directory), *flag, "--json")
    assert code == 0, err
    assert [r["migration_id"] for r in json.loads(out)["results"]] == ["0003", "0002", "0001"]
    assert statuses(db_url) == dict.fromkeys(("0001", "0002", "0003"), "rolled_back")
    assert {"users", "tags"}.isdisjoint(h.tables(db_url))


def test_down_all_refuses_to_combine_with_to(tmp_path: Path) -> None:
    directory = three(tmp_path / "m", "")
    code, _, err = invoke("down", "--db", f"sqlite:///{tmp_path / 'a.db'}", "--dir", str(directory),
                          "--all", "--to", "0001")
    assert code != 0 and "--all" in err and "--to" in err
