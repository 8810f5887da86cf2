"""Issue #23: other tools' migration folders are read as they are (golang-migrate, Flyway).

Against a real SQLite file, PostgreSQL and MariaDB: the folder is applied,
rolled back and the history shows the tools' versions as ids.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dbkeeper.migrations import MigrationFileError, run_migrations
from dbkeeper.migrations.files import load_directory
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h


@pytest.fixture(params=h.DIALECTS)
def db_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def files(directory: Path, named: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in named.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_golang_migrate_layout_with_an_empty_down_file(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = files(tmp_path / "m", {
        "000001_create_users.up.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);",
        "000001_create_users.down.sql": "DROP TABLE users;",
        "000002_seed.up.sql": "INSERT INTO users (id) VALUES (1);",
        "000002_seed.down.sql": "",
    })
    assert run_migrations(directory, db_url)["success"] is True
    assert run_migrations(directory, db_url, "down", target="0")["migrations_processed"] == 2
    assert "users" not in h.tables(db_url)


def test_flyway_versioned_and_undo_files(tmp_path: Path, db_url: DatabaseURL) -> None:
    directory = files(tmp_path / "m", {
        "V1__create_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);",
        "U1__create_users.sql": "DROP TABLE users;",
        "V1_1__create_tags.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
        "U1_1__create_tags.sql": "DROP TABLE tags;",
        "V2__create_posts.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY);",
    })
    loaded = {m.id: m for m in load_directory(directory)}
    assert set(loaded) == {"1", "1.1", "2"}
    assert loaded["1.1"].name == "create_tags" and loaded["2"].rollback_sql is None
    result = run_migrations(directory, db_url)
    assert [r["migration_id"] for r in result["results"]] == ["1", "1.1", "2"]
    assert {"users", "tags", "posts"} <= h.tables(db_url)
    rows = {str(r["id"]): str(r["status"]) for r in h.query(db_url, "SELECT id, status FROM dbkeeper_migrations")}
    assert rows == {"1": "applied", "1.1": "applied", "2": "applied"}
    (directory / "U2__create_posts.sql").write_text("DROP TABLE posts;", encoding="utf-8")
    assert run_migrations(directory, db_url, "down", target="1")["migrations_processed"] == 2
    assert h.tables(db_url) & {"users", "tags", "posts"} == {"users"}


def test_flyway_undo_without_its_versioned_file_and_repeatables_are_refused(tmp_path: Path) -> None:
    directory = files(tmp_path / "a", {"V1__a.sql": "SELECT 1;", "U2__b.sql": "SELECT 1;"})
    with pytest.raises(MigrationFileError, match=r"U2__b\.sql.*V2__"):
        load_directory(directory)
    directory = files(tmp_path / "b", {"V1__a.sql": "SELECT 1;", "R__views.sql": "SELECT 1;"})
    with pytest.raises(MigrationFileError, match=r"R__views\.sql.*repeatable"):
        load_directory(directory)
