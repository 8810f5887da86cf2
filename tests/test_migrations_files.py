"""Migration files and the dependency graph: formats, checksums, ordering and every file error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations import (
    DependencyCycleError,
    DuplicateMigrationError,
    Migration,
    MigrationFileError,
    MissingDependencyError,
    build_graph,
    compute_checksum,
    load_directory,
)
from dbkeeper.migrations.files import next_id, parse_header, write_json, write_sql_pair
from dbkeeper.migrations.planner import natural_key


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the model -------------------------------------------------------------------------------------------
def test_checksum_is_the_sha256_of_the_sql_and_follows_every_change() -> None:
    migration = Migration(id="1", name="one", sql="CREATE TABLE a (x INT)")
    assert migration.checksum == compute_checksum("CREATE TABLE a (x INT)")
    assert len(migration.checksum) == 64
    migration.sql = "CREATE TABLE b (x INT)"
    assert migration.checksum == compute_checksum("CREATE TABLE b (x INT)")
    migration.checksum = "forged"
    assert migration.checksum == compute_checksum("CREATE TABLE b (x INT)")


def test_checksum_ignores_line_endings_and_surrounding_whitespace_only() -> None:
    assert compute_checksum("SELECT 1;\r\nSELECT 2;\n") == compute_checksum("SELECT 1;\nSELECT 2;")
    assert compute_checksum("SELECT 1;") != compute_checksum("SELECT  1;")


def test_migration_defaults_match_the_seed_api() -> None:
    migration = Migration(id="7", name="seven")
    assert migration.status == "pending"
    assert migration.applied_at is None
    assert migration.dependencies == []
    assert migration.rollback_sql is None
    assert migration.created_at.tzinfo is not None


# -- SQL pairs ---------------------------------------------------------------------------------------------
def test_sql_pairs_load_with_header_description_and_dependencies(tmp_path: Path) -> None:
    write(tmp_path, "0001_init.up.sql", "CREATE TABLE a (x INT);")
    write(tmp_path, "0003_add_users.up.sql", "-- description: Add the users table\n-- depends: 0001, 0002\n"
          "-- an ordinary comment\nCREATE TABLE u (x INT);")
    write(tmp_path, "0003_add_users.down.sql", "DROP TABLE u;")
    write(tmp_path, "0002_more.up.sql", "-- depends: 0001\nSELECT 1;")
    write(tmp_path, "README.md", "ignored")
    by_id = {m.id: m for m in load_directory(tmp_path)}
    users = by_id["0003"]
    assert users.name == "add_users"
    assert users.description == "Add the users table"
    assert users.dependencies == ["0001", "0002"]
    assert users.rollback_sql == "DROP TABLE u;"
    assert users.source == tmp_path / "0003_add_users.up.sql"
    assert by_id["0001"].rollback_sql is None


def test_header_parsing_stops_at_the_first_statement() -> None:
    header = parse_header("-- description: x\n\n-- note\nSELECT 1;\n-- depends: 9\n")
    assert header == {"description": "x"}


def test_a_down_file_without_its_up_file_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.down.sql", "DROP TABLE a;")
    with pytest.raises(MigrationFileError, match=r"0001_a\.down\.sql has no matching 0001_a\.up\.sql"):
        load_directory(tmp_path)


def test_a_stray_sql_file_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    with pytest.raises(MigrationFileError, match=r"0001_a\.sql: a migration file must be named"):
        load_directory(tmp_path)


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match="does not exist"):
        load_directory(tmp_path / "nope")


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "0001_a.up.sql").write_bytes(b"SELECT '\xff';")
    with pytest.raises(MigrationFileError, match=r"0001_a\.up\.sql is not valid UTF-8"):
        load_directory(tmp_path)


# -- JSON files ----------------------------------------------------------------------------------------------
def test_json_files_load_every_seed_field(tmp_path: Path) -> None:
    data = {"id": "0005", "name": "orders", "description": "d", "sql": "CREATE TABLE o (x INT);",
            "rollback_sql": "DROP TABLE o;", "dependencies": ["0004"], "created_at": "2024-01-02T03:04:05Z",
            "applied_at": "2024-01-03T00:00:00Z", "status": "applied", "checksum": "stale"}
    write(tmp_path, "0005_orders.json", json.dumps(data))
    (migration,) = load_directory(tmp_path)
    assert (migration.id, migration.name, migration.description) == ("0005", "orders", "d")
    assert migration.dependencies == ["0004"]
    assert migration.rollback_sql == "DROP TABLE o;"
    assert migration.created_at.isoformat() == "2024-01-02T03:04:05+00:00"
    assert migration.status == "pending" and migration.applied_at is None  # state lives in the database
    assert migration.checksum == compute_checksum(data["sql"])


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "1", "name": "x", "sql": "SELECT 1",}', r"not valid JSON: .* at line 1, column"),
    ('["not", "an", "object"]', "expected a JSON object"),
    ('{"id": "1", "name": "x"}', r"missing required field\(s\) \['sql'\]"),
    ('{"id": "1", "name": "x", "sql": "SELECT 1", "dependecies": []}', r"unknown field\(s\) \['dependecies'\]"),
    ('{"id": "1", "name": "x", "sql": "SELECT 1", "dependencies": "0001"}', "must be a list of migration ids"),
    ('{"id": "1", "name": "x", "sql": ["SELECT 1"]}', "field 'sql' must be a string"),
    ('{"id": "", "name": "x", "sql": "SELECT 1"}', "the migration id is empty"),
    ('{"id": "1", "name": "x", "sql": "SELECT 1", "created_at": "yesterday"}', "not an ISO-8601 timestamp"),
])
def test_malformed_json_files_are_errors_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "0001_bad.json", content)
    with pytest.raises(MigrationFileError, match=message) as info:
        load_directory(tmp_path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DbKeeperError)


# -- the graph --------------------------------------------------------------------------------------------------
def m(ident: str, *deps: str, source: str | None = None) -> Migration:
    return Migration(id=ident, name=f"m{ident}", sql="SELECT 1", dependencies=list(deps),
                     source=Path(source or f"{ident}.up.sql"))


def test_without_dependencies_the_order_is_natural_id_order() -> None:
    graph = build_graph([m("10"), m("2"), m("0001"), m("10a")])
    assert [x.id for x in graph] == ["0001", "2", "10", "10a"]


def test_dependencies_come_first_and_ties_break_by_id_deterministically() -> None:
    migrations = [m("1"), m("2", "5"), m("3"), m("4", "1"), m("5", "3")]
    orders = {tuple(x.id for x in build_graph(list(perm))) for perm in (migrations, migrations[::-1])}
    assert orders == {("1", "3", "4", "5", "2")}


def test_duplicate_ids_name_both_files() -> None:
    with pytest.raises(DuplicateMigrationError, match=r"id '2' is defined by a\.json and b\.up\.sql"):
        build_graph([m("1"), m("2", source="a.json"), m("2", source="b.up.sql")])


def test_a_missing_dependency_names_the_file_that_declares_it() -> None:
    with pytest.raises(MissingDependencyError, match=r"3 \(c\.up\.sql\) depends on '9'"):
        build_graph([m("1"), m("3", "9", source="c.up.sql")])


def test_a_cycle_names_every_migration_and_file_on_it() -> None:
    with pytest.raises(DependencyCycleError) as info:
        build_graph([m("1"), m("2", "4", source="two.json"), m("3", "2", source="three.up.sql"),
                     m("4", "3", source="four.up.sql")])
    text = str(info.value)
    for part in ("2 (two.json)", "3 (three.up.sql)", "4 (four.up.sql)"):
        assert part in text
    assert "1 (" not in text


def test_directory_errors_surface_through_load_and_build(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.up.sql", "-- depends: 0002\nSELECT 1;")
    write(tmp_path, "0002_b.json", json.dumps({"id": "0002", "name": "b", "sql": "SELECT 2",
                                               "dependencies": ["0001"]}))
    with pytest.raises(DependencyCycleError, match=r"0001_a\.up\.sql.*0002_b\.json|0002_b\.json.*0001_a\.up\.sql"):
        build_graph(load_directory(tmp_path))


def test_natural_key_orders_numbers_numerically() -> None:
    assert sorted(["v10", "v9", "v1_b", "v1_a"], key=natural_key) == ["v1_a", "v1_b", "v9", "v10"]


# -- writing -------------------------------------------------------------------------------------------------------
def test_written_files_load_back_identically(tmp_path: Path) -> None:
    json_one = Migration(id="0001", name="Add users!", description="u", sql="CREATE TABLE u (x INT);",
                         rollback_sql="DROP TABLE u;")
    sql_two = Migration(id="0002", name="add posts", description="p", sql="CREATE TABLE p (x INT);",
                        rollback_sql="DROP TABLE p;", dependencies=["0001"])
    assert write_json(json_one, tmp_path).name == "0001_add_users.json"
    up, down = write_sql_pair(sql_two, tmp_path)
    assert (up.name, down.name) == ("0002_add_posts.up.sql", "0002_add_posts.down.sql")
    loaded = {x.id: x for x in load_directory(tmp_path)}
    assert loaded["0001"].checksum == json_one.checksum
    assert loaded["0002"].checksum == sql_two.checksum
    assert loaded["0002"].dependencies == ["0001"]
    assert loaded["0002"].description == "p"
    with pytest.raises(MigrationFileError, match="already exists"):
        write_json(json_one, tmp_path)


def test_next_id_continues_the_largest_numeric_prefix() -> None:
    assert next_id([]) == "0001"
    assert next_id(["0001_a.up.sql", "0009_b.json", "notes.txt"]) == "0010"
    assert next_id(["20240101_x.up.sql"]) == "20240102"
