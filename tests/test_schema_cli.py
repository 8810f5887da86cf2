"""``dbkeeper schema``: dump, diff (exit 0/1/2), generate and migration, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.schema import schema
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.migrations.manager import MigrationManager
from dbkeeper.urls import DatabaseURL

MODELS = '''
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Player(Base):
    __tablename__ = "players"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
'''


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        conn.execute("CREATE TABLE teams (id INTEGER NOT NULL, name VARCHAR(50) NOT NULL, PRIMARY KEY (id))")
    return url


def test_dump_prints_sql_or_json(db: str) -> None:
    runner = CliRunner()
    result = runner.invoke(schema, ["dump", db])
    assert result.exit_code == 0, result.output
    assert 'CREATE TABLE "teams"' in result.output
    result = runner.invoke(schema, ["dump", db, "--format", "json"])
    assert json.loads(result.output)["tables"][0]["name"] == "teams"


def test_diff_exits_0_without_drift_1_with_drift_and_2_on_errors(db: str, models: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    drift = runner.invoke(schema, ["diff", db, str(models), "--sql"])
    assert drift.exit_code == 1, drift.output
    assert "create table players" in drift.output and 'CREATE TABLE "players"' in drift.output
    same = runner.invoke(schema, ["diff", db, db])
    assert same.exit_code == 0 and "no drift" in same.output
    as_json = runner.invoke(schema, ["diff", db, str(models), "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.output)["changes"] == ["create table players"]
    missing = runner.invoke(schema, ["diff", db, str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "error: cannot read" in missing.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "tables": [{"name": "t", "columns": [{"name": "a", "type": "NOPE"}]}]}))
    invalid = runner.invoke(schema, ["diff", db, str(bad)])
    assert invalid.exit_code == 2 and "unknown column type 'NOPE'" in invalid.output


def test_diff_between_two_files_uses_the_requested_dialect(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sql", tmp_path / "b.json"
    a.write_text("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    b.write_text(json.dumps({"name": "b", "tables": [{"name": "t", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True}, {"name": "v", "type": "TEXT"}]}]}))
    result = CliRunner().invoke(schema, ["diff", str(a), str(b), "--dialect", "postgres", "--sql"])
    assert result.exit_code == 1 and 'ALTER TABLE "t" ADD COLUMN "v" text' in result.output


def test_generate_prints_ddl_for_the_dialect(models: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(schema, ["generate", str(models), "--dialect", "mysql"])
    assert result.exit_code == 0, result.output
    assert result.output.index("CREATE TABLE `teams`") < result.output.index("CREATE TABLE `players`")
    out = tmp_path / "schema.sql"
    written = CliRunner().invoke(schema, ["generate", str(models), "--dialect", "postgres", "-o", str(out)])
    assert written.exit_code == 0 and 'CREATE TABLE "players"' in out.read_text()


def test_migration_writes_a_file_the_engine_applies(db: str, models: Path, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    result = CliRunner().invoke(schema, ["migration", db, str(models), "--dir", str(directory), "--name", "players"])
    assert result.exit_code == 0, result.output
    manager = MigrationManager(database_url=DatabaseURL.parse(db))
    try:
        manager.load_migrations_from_directory(directory)
        assert [r.success for r in manager.apply_pending_migrations()] == [True]
    finally:
        manager.close()
    again = CliRunner().invoke(schema, ["diff", db, str(models)])
    assert again.exit_code == 0, again.output
    nothing = CliRunner().invoke(schema, ["migration", db, str(models), "--dir", str(directory)])
    assert "no drift" in nothing.output


def test_migration_refuses_destructive_changes_unless_allowed(db: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"name": "empty", "tables": []}))
    refused = CliRunner().invoke(schema, ["migration", db, str(empty), "--dir", str(tmp_path / "m")])
    assert refused.exit_code == 2 and "drop table teams" in refused.output and "--allow-destructive" in refused.output
    allowed = CliRunner().invoke(schema, ["migration", db, str(empty), "--dir", str(tmp_path / "m"),
                                          "--allow-destructive"])
    assert allowed.exit_code == 0, allowed.output


def test_passwords_in_urls_never_reach_the_output() -> None:
    result = CliRunner().invoke(schema, ["dump", "postgresql://u:s3cr3t-pw@127.0.0.1:1/none?connect_timeout=1"])
    assert result.exit_code == 2
    assert "s3cr3t-pw" not in result.output


def test_dump_reads_postgres_enums_sequences_views_and_comments(dbkeeper_postgres_url: DatabaseURL) -> None:
    url = dbkeeper_postgres_url.render(hide_password=False)
    with DatabaseConnection.from_url(url) as conn:
        conn.connect()
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
        conn.execute("CREATE SEQUENCE tickets START WITH 7 INCREMENT BY 3")
        conn.execute('CREATE TABLE "a b" (id serial PRIMARY KEY, m mood DEFAULT \'happy\', n int DEFAULT -1)')
        conn.execute("COMMENT ON COLUMN \"a b\".n IS 'negative'")
        conn.execute('CREATE VIEW happy AS SELECT id FROM "a b" WHERE m = \'happy\'')
    result = CliRunner().invoke(schema, ["dump", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["enums"] == [{"name": "mood", "values": ["sad", "happy"]}]
    assert data["sequences"] == [{"name": "tickets", "start": 7, "increment": 3}]
    assert [v["name"] for v in data["views"]] == ["happy"]
    columns = {c["name"]: c for c in data["tables"][0]["columns"]}
    assert columns["id"]["autoincrement"] is True and columns["m"] == {"name": "m", "type": "ENUM", "default": "happy",
                                                                       "enum": "mood"}
    assert columns["n"]["comment"] == "negative" and columns["n"]["default"] == -1
    sql = CliRunner().invoke(schema, ["dump", url])
    assert sql.exit_code == 0
    assert sql.output.index('CREATE TYPE "mood"') < sql.output.index('CREATE TABLE "a b"') < sql.output.index(
        'CREATE VIEW "happy"')
    assert CliRunner().invoke(schema, ["diff", url, url]).exit_code == 0
