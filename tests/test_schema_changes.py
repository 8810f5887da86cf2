"""One seeded change per object kind, on every dialect: detected, migrated, and settled.

Each case starts from the same base schema in a real database, changes one
thing in the definition, and checks that the diff names that change, that
the generated migration applies through ``MigrationManager``, and that the
next diff is empty.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.schema.errors import DestructiveChangeError
from dbkeeper.schema.introspect import introspect
from dbkeeper.schema.migration import compare, migration_from_diff
from dbkeeper.schema.model import SchemaDefinition
from dbkeeper.schema.report import drift_dict, drift_report
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_schema_helpers as h

BASE: dict[str, Any] = {"name": "base", "tables": [
    {"name": "parent", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True, "autoincrement": True},
        {"name": "name", "type": "VARCHAR(50)", "nullable": False},
        {"name": "score", "type": "INTEGER", "default": 0},
        {"name": "note", "type": "TEXT"},
        {"name": "mood", "type": "ENUM", "enum_values": ["a", "b"]}]},
    {"name": "child", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True},
        {"name": "parent_id", "type": "INTEGER"},
        {"name": "qty", "type": "INTEGER", "nullable": False, "default": 1}],
     "foreign_keys": [{"columns": ["parent_id"], "referred_table": "parent", "referred_columns": ["id"]}],
     "checks": ["qty >= 0"]}],
    "views": [{"name": "v_parent", "definition": "SELECT id, name FROM parent"}]}

Change = Callable[[dict[str, Any]], None]


def _table(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in d["tables"] if t["name"] == name)


def _column(d: dict[str, Any], table: str, name: str) -> dict[str, Any]:
    return next(c for c in _table(d, table)["columns"] if c["name"] == name)


CASES: list[tuple[str, Change, str, tuple[str, ...]]] = [
    ("table_added", lambda d: d["tables"].append({"name": "extra", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True}]}), "create table extra", h.DIALECTS),
    ("table_dropped", lambda d: d["tables"].remove(_table(d, "child")), "drop table child", h.DIALECTS),
    ("column_added", lambda d: _table(d, "child")["columns"].append({"name": "label", "type": "VARCHAR(10)"}),
     "add column child.label", h.DIALECTS),
    ("column_dropped", lambda d: _table(d, "parent")["columns"].remove(_column(d, "parent", "note")),
     "drop column parent.note", h.DIALECTS),
    ("column_type", lambda d: _column(d, "parent", "score").update(type="BIGINT"), "type INTEGER -> BIGINT",
     h.DIALECTS),
    ("nullability", lambda d: _column(d, "parent", "note").update(nullable=False, default="-"),
     "nullable NULL -> NOT NULL", h.DIALECTS),
    ("default_literal", lambda d: _column(d, "parent", "score").update(default=5), "default 0 -> 5", h.DIALECTS),
    ("default_expression", lambda d: _table(d, "child")["columns"].append(
        {"name": "at", "type": "TIMESTAMP", "default": {"expression": "CURRENT_TIMESTAMP"}}), "add column child.at",
     h.DIALECTS),
    ("generated_column", lambda d: _table(d, "child")["columns"].append(
        {"name": "double_qty", "type": "INTEGER", "generated": "qty * 2"}), "add column child.double_qty",
     h.DIALECTS),
    ("identity", lambda d: _column(d, "parent", "id").update(autoincrement=False), "identity True -> False",
     ("postgres", "mysql")),
    ("primary_key", lambda d: _table(d, "child").update(primary_key=["id", "qty"]), "primary key of child",
     h.DIALECTS),
    ("foreign_key_action", lambda d: _table(d, "child")["foreign_keys"][0].update(on_delete="CASCADE"),
     "add foreign key child(parent_id) -> parent", h.DIALECTS),
    ("foreign_key_dropped", lambda d: _table(d, "child").update(foreign_keys=[]),
     "drop foreign key child(parent_id) -> parent", h.DIALECTS),
    ("unique", lambda d: _table(d, "parent").update(unique_constraints=[{"columns": ["name"]}]),
     "add unique constraint parent(name)", h.DIALECTS),
    ("index", lambda d: _table(d, "child").update(indexes=[{"columns": ["qty"]}]), "create index ix_child_qty",
     h.DIALECTS),
    ("check", lambda d: _table(d, "child").update(checks=["qty >= 1"]), "add check on child: qty >= 1", h.DIALECTS),
    ("view", lambda d: d["views"][0].update(definition="SELECT id, name FROM parent WHERE id > 1"),
     "create view v_parent", h.DIALECTS),
    ("view_dropped", lambda d: d.update(views=[]), "drop view v_parent", h.DIALECTS),
    ("enum_value_added", lambda d: _column(d, "parent", "mood").update(enum_values=["a", "b", "c"]),
     "", h.DIALECTS),
    ("enum_value_removed", lambda d: _column(d, "parent", "mood").update(enum_values=["a"]), "", h.DIALECTS),
    ("table_comment", lambda d: _table(d, "parent").update(comment="the parents"), "comment on table parent",
     ("postgres", "mysql")),
    ("column_comment", lambda d: _column(d, "parent", "note").update(comment="free text"), "comment None",
     ("postgres", "mysql")),
    ("sequence", lambda d: d.update(sequences=[{"name": "tickets", "start": 10, "increment": 5}]),
     "create sequence tickets", ("postgres",)),
    ("named_enum", lambda d: (d.update(enums=[{"name": "level", "values": ["low", "high"]}]),
                              _table(d, "child")["columns"].append({"name": "lvl", "type": "ENUM", "enum": "level"})),
     "create enum level", ("postgres",)),
]


@pytest.fixture(params=h.DIALECTS)
def server_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def _check_case(server_url: DatabaseURL, tmp_path: Path, change: Change, expected: str) -> None:
    base = SchemaDefinition.from_dict(BASE)
    wanted = copy.deepcopy(BASE)
    change(wanted)
    target = SchemaDefinition.from_dict(wanted)
    with h.fresh(server_url, tmp_path) as (conn, url):
        h.create(conn, base)
        assert h.redo(conn, base).is_empty
        diff = compare(introspect(conn), target, conn.dialect)
        assert not diff.is_empty
        assert any(expected in line for line in diff.changes), diff.changes
        migration = migration_from_diff(diff, name="one change", allow_destructive=True)
        manager, ident = h.migrate(url, tmp_path / "ws", migration.sql, migration.rollback_sql)
        try:
            after = h.redo(conn, target)
            assert after.is_empty, f"{after.changes}\n{migration.sql}"
            assert manager.rollback_migration(ident).success
            assert h.redo(conn, base).is_empty
        finally:
            manager.close()


@pytest.mark.parametrize(("case", "change", "expected", "dialects"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_change_is_detected_migrated_and_settles(
        server_url: DatabaseURL, tmp_path: Path, case: str, change: Change, expected: str,
        dialects: tuple[str, ...]) -> None:
    name = "sqlite" if server_url.scheme == "sqlite" else ("postgres" if "postgres" in server_url.scheme else "mysql")
    if name not in dialects:
        # e.g. sequences and named enums exist only on PostgreSQL, comments not on SQLite
        pytest.skip(f"{name} has no such object or change ({case}); the case runs on {', '.join(dialects)}")
    _check_case(server_url, tmp_path, change, expected)


def test_renames_happen_only_through_hints_and_keep_the_data(server_url: DatabaseURL, tmp_path: Path) -> None:
    base = SchemaDefinition.from_dict(BASE)
    unhinted = copy.deepcopy(BASE)
    _column(unhinted, "parent", "name")["name"] = "title"
    hinted = copy.deepcopy(unhinted)
    _column(hinted, "parent", "title")["renamed_from"] = "name"
    _table(hinted, "parent").update(name="parents", renamed_from="parent")
    _table(hinted, "child")["foreign_keys"][0]["referred_table"] = "parents"
    hinted["views"][0]["definition"] = "SELECT id, title FROM parents"
    unhinted["views"][0]["definition"] = "SELECT id, title FROM parent"
    with h.fresh(server_url, tmp_path) as (conn, url):
        h.create(conn, base)
        q = conn.dialect.quote_identifier
        conn.execute(f"INSERT INTO {q('parent')} ({q('name')}) VALUES ('kept')")
        guess = compare(introspect(conn), SchemaDefinition.from_dict(unhinted), conn.dialect)
        assert "drop column parent.name" in guess.destructive
        assert any("renamed_from='name'" in s for s in guess.suggestions)
        with pytest.raises(DestructiveChangeError, match="would lose data") as info:
            migration_from_diff(guess, name="guess")
        assert info.value.changes == guess.destructive
        diff = compare(introspect(conn), SchemaDefinition.from_dict(hinted), conn.dialect)
        assert not diff.destructive
        migration = migration_from_diff(diff, name="rename")
        manager, _ = h.migrate(url, tmp_path / "ws", migration.sql, migration.rollback_sql)
        manager.close()
        assert conn.execute(f"SELECT {q('title')} AS t FROM {q('parents')}").scalar() == "kept"
        assert h.redo(conn, SchemaDefinition.from_dict(hinted)).is_empty


def test_narrowing_a_type_is_destructive(server_url: DatabaseURL, tmp_path: Path) -> None:
    narrower = copy.deepcopy(BASE)
    _column(narrower, "parent", "name")["type"] = "VARCHAR(10)"
    with h.fresh(server_url, tmp_path) as (conn, _):
        h.create(conn, SchemaDefinition.from_dict(BASE))
        diff = compare(introspect(conn), SchemaDefinition.from_dict(narrower), conn.dialect)
        assert diff.destructive == ["alter column parent.name: type VARCHAR(50) -> VARCHAR(10)"]
        with pytest.raises(DestructiveChangeError):
            migration_from_diff(diff, name="narrow")


def test_the_drift_report_has_text_and_json(server_url: DatabaseURL, tmp_path: Path) -> None:
    wanted = copy.deepcopy(BASE)
    wanted["tables"].remove(_table(wanted, "child"))
    with h.fresh(server_url, tmp_path) as (conn, _):
        h.create(conn, SchemaDefinition.from_dict(BASE))
        diff = compare(introspect(conn), SchemaDefinition.from_dict(wanted), conn.dialect)
        text = drift_report(diff, "live", "model")
        assert "! drop table child" in text and "--allow-destructive" in text
        data = drift_dict(diff, "live", "model")
        assert data["drift"] is True and data["destructive"] == ["drop table child"] and data["up_sql"]


def test_sqlite_rebuilds_a_parent_without_cascading_into_its_children(tmp_path: Path) -> None:
    url = DatabaseURL(scheme="sqlite", database=str(tmp_path / "rebuild.db"))
    base = copy.deepcopy(BASE)
    _table(base, "child")["foreign_keys"][0]["on_delete"] = "CASCADE"
    wanted = copy.deepcopy(base)
    _column(wanted, "parent", "score")["type"] = "BIGINT"
    with h.fresh(url, tmp_path) as (conn, _):
        h.create(conn, SchemaDefinition.from_dict(base))
        conn.execute("INSERT INTO parent (name) VALUES ('p')")
        conn.execute("INSERT INTO child (id, parent_id, qty) VALUES (1, 1, 3)")
        diff = compare(introspect(conn), SchemaDefinition.from_dict(wanted), conn.dialect)
        assert diff.statements[0] == "PRAGMA foreign_keys = OFF" and diff.statements[-1] == "PRAGMA foreign_keys = ON"
        assert any(s.startswith('INSERT INTO "_dbk_new_parent"') for s in diff.statements)
        manager, _ = h.migrate(conn.url, tmp_path / "ws", diff.up_sql(), diff.rollback_sql())
        manager.close()
        assert conn.execute("SELECT COUNT(*) FROM child").scalar() == 1
        assert conn.execute("SELECT name FROM parent").scalar() == "p"
        assert h.redo(conn, SchemaDefinition.from_dict(wanted)).is_empty


REWRITTEN: dict[str, Any] = {"name": "rewritten", "tables": [
    {"name": "t", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True},
        {"name": "status", "type": "VARCHAR(40)", "default": "back\\slash 'q'", "comment": "it's \\ \"x\""},
        {"name": "name", "type": "VARCHAR(20)", "nullable": False, "default": ""},
        {"name": "ratio", "type": "DOUBLE", "default": 0.25},
        {"name": "price", "type": "NUMERIC(10,2)", "default": 1.5},
        {"name": "flag", "type": "BOOLEAN", "default": True},
        {"name": "minus", "type": "INTEGER", "default": -1},
        {"name": "d", "type": "DATE", "default": {"expression": "CURRENT_DATE"}},
        {"name": "at", "type": "TIMESTAMP", "default": {"expression": "now()"}},
        {"name": "u", "type": "UUID"}, {"name": "j", "type": "JSON"}],
     "checks": ["status IN ('a', 'b')", "name <> ''", "ratio BETWEEN 0 AND 1", "minus != 0"]},
    {"name": "o", "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                              {"name": "t_id", "type": "INTEGER", "foreign_key": "t.id"}]}],
    "views": [{"name": "v", "definition": "SELECT o.id, t.name FROM o JOIN t ON t.id = o.t_id WHERE t.status = 'a'"}]}


def test_what_databases_rewrite_still_compares_equal(server_url: DatabaseURL, tmp_path: Path) -> None:
    """Casts, quoted numbers, BETWEEN, IN as ANY(ARRAY), now()/curdate(), escaped quotes and qualified views."""
    schema = SchemaDefinition.from_dict(REWRITTEN)
    with h.fresh(server_url, tmp_path) as (conn, _):
        h.create(conn, schema)
        diff = h.redo(conn, schema)
        assert diff.is_empty, diff.changes
