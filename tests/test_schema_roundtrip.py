"""The round-trip property, on every dialect, against a real database.

A random schema A and random changes giving B: after A is created and the
generated migration applied, introspection equals B (re-diffing is empty),
and the migration's rollback SQL brings A back (diffing against A is empty).
Set ``DBKEEPER_SCHEMA_EXAMPLES`` for more examples than the suite's 20.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbkeeper.schema.introspect import introspect
from dbkeeper.schema.migration import compare
from dbkeeper.schema.model import SchemaDefinition
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_schema_helpers as h

TABLES = ["alpha", "beta", "order", "Gamma Ray", "ünïcode"]
COLUMNS = ["amount", "title", "note", "from", "sp ace", "qu\"ote", "größe"]
TYPES = ["INTEGER", "BIGINT", "VARCHAR(20)", "VARCHAR(40)", "TEXT", "BOOLEAN", "NUMERIC(10,2)", "DATE"]
INDEXABLE = {"INTEGER", "BIGINT", "VARCHAR(20)", "VARCHAR(40)", "BOOLEAN", "NUMERIC(10,2)", "DATE"}
WIDER = {"INTEGER": "BIGINT", "VARCHAR(20)": "VARCHAR(40)", "VARCHAR(40)": "TEXT", "NUMERIC(10,2)": "NUMERIC(12,2)"}
DEFAULTS: dict[str, list[Any]] = {"INTEGER": [0, 7, -3], "BIGINT": [0, 12], "VARCHAR(20)": ["x", "it's"],
                                  "VARCHAR(40)": ["hello"], "TEXT": ["t"], "BOOLEAN": [True, False],
                                  "NUMERIC(10,2)": [1.5, 0], "DATE": ["2020-01-02"]}


@st.composite
def columns(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    name = draw(st.sampled_from(names))
    ctype = draw(st.sampled_from(TYPES))
    column: dict[str, Any] = {"name": name, "type": ctype, "nullable": draw(st.booleans())}
    if draw(st.booleans()):
        column["default"] = draw(st.sampled_from(DEFAULTS[ctype]))
    if draw(st.integers(0, 4)) == 0:
        column["comment"] = draw(st.sampled_from(["a note", "it's \"quoted\"", "ünï"]))
    return column


def sequences() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"name": st.sampled_from(["seq_a", "Seq B"]), "start": st.integers(1, 100),
                                  "increment": st.sampled_from([1, 2, 10])})


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=3, unique=True))
    tables: list[dict[str, Any]] = []
    for position, name in enumerate(names):
        cols = [{"name": "id", "type": "INTEGER", "primary_key": True,
                 "autoincrement": draw(st.booleans())}]
        for column in draw(st.lists(columns(COLUMNS), max_size=3, unique_by=lambda c: c["name"])):
            cols.append(column)
        table: dict[str, Any] = {"name": name, "columns": cols, "indexes": [], "unique_constraints": [],
                                 "checks": [], "foreign_keys": []}
        if draw(st.booleans()):
            cols.append({"name": "mood", "type": "ENUM", "enum_values": ["sad", "ok", "happy"]})
        indexable = [c["name"] for c in cols[1:] if c["type"] in INDEXABLE]
        if indexable and draw(st.booleans()):
            table["indexes"].append({"columns": [draw(st.sampled_from(indexable))]})
        if indexable and draw(st.booleans()):
            table["unique_constraints"].append({"columns": [draw(st.sampled_from(indexable))]})
        if any(c["name"] == "amount" and c["type"] in ("INTEGER", "BIGINT") for c in cols) and draw(st.booleans()):
            table["checks"].append({"expression": "amount >= -10"})
        if position > 0 and draw(st.booleans()):
            parent = draw(st.sampled_from(names[:position]))
            cols.append({"name": "parent_id", "type": "INTEGER"})
            table["foreign_keys"].append({"columns": ["parent_id"], "referred_table": parent,
                                          "referred_columns": ["id"],
                                          "on_delete": draw(st.sampled_from([None, "CASCADE", "SET NULL"]))})
        if draw(st.integers(0, 3)) == 0:
            table["comment"] = "table note"
        tables.append(table)
    schema: dict[str, Any] = {"name": "prop", "tables": tables, "views": []}
    if "alpha" in names and draw(st.booleans()):
        schema["views"].append({"name": "alpha_ids", "definition": "SELECT id FROM alpha WHERE id > 0"})
    return schema


def _table_users(schema: dict[str, Any], table: str) -> bool:
    """True when another table's foreign key or a view refers to ``table``."""
    fks = any(fk["referred_table"] == table for t in schema["tables"] if t["name"] != table for fk in t["foreign_keys"])
    return fks or (table == "alpha" and bool(schema["views"]))


def _forget_column(table: dict[str, Any], name: str) -> None:
    table["indexes"] = [i for i in table["indexes"] if name not in i["columns"]]
    table["unique_constraints"] = [u for u in table["unique_constraints"] if name not in u["columns"]]
    table["checks"] = [c for c in table["checks"] if name not in c["expression"]]


@st.composite
def changed(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """B: one to three random changes applied to a copy of A."""
    target = copy.deepcopy(schema)
    for _ in range(draw(st.integers(1, 3))):
        tables = target["tables"]
        table = draw(st.sampled_from(tables))
        plain = [c for c in table["columns"] if c["name"] not in ("id", "parent_id")]
        kind = draw(st.sampled_from(["add_table", "drop_table", "rename_table", "add_column", "drop_column",
                                     "rename_column", "widen", "nullable", "default", "index", "unique", "check",
                                     "fk_action", "comment", "enum", "view"]))
        if kind == "add_table":
            free = [n for n in TABLES if n not in {t["name"] for t in tables}]
            if free:
                tables.append({"name": free[0], "columns": [{"name": "id", "type": "INTEGER", "primary_key": True},
                                                            {"name": "title", "type": "VARCHAR(20)"}],
                               "indexes": [], "unique_constraints": [], "checks": [], "foreign_keys": [
                                   {"columns": ["id"], "referred_table": table["name"], "referred_columns": ["id"]}]})
        elif kind == "drop_table" and len(tables) > 1 and not _table_users(target, table["name"]):
            tables.remove(table)
        elif kind == "rename_table" and not _table_users(target, table["name"]):
            free = [n for n in TABLES if n not in {t["name"] for t in tables} and n != "alpha"]
            if free:
                old = table["name"]
                table["renamed_from"] = table.get("renamed_from") or old
                table["name"] = free[0]
                for other in tables:
                    for fk in other["foreign_keys"]:
                        if fk["referred_table"] == old:
                            fk["referred_table"] = free[0]
        elif kind == "add_column":
            used = {c["name"] for c in table["columns"]}
            new = draw(columns([n for n in COLUMNS if n not in used] or ["extra"]))
            if new["name"] not in used:
                if not new["nullable"] and "default" not in new:
                    new["default"] = DEFAULTS[new["type"]][0]
                table["columns"].append(new)
        elif kind == "drop_column" and plain:
            column = draw(st.sampled_from(plain))
            table["columns"].remove(column)
            _forget_column(table, column["name"])
        elif kind == "rename_column" and plain:
            column = draw(st.sampled_from(plain))
            free = [n for n in [*COLUMNS, "renamed"] if n not in {c["name"] for c in table["columns"]}]
            if free and not column.get("renamed_from"):
                _forget_column(table, column["name"])
                column["renamed_from"], column["name"] = column["name"], free[-1]
        elif kind == "widen":
            candidates = [c for c in plain if c["type"] in WIDER]
            if candidates:
                column = draw(st.sampled_from(candidates))
                column["type"] = WIDER[column["type"]]
                column.pop("default", None)
                if column["type"] == "TEXT":
                    _forget_column(table, column["name"])
        elif kind == "nullable" and plain:
            column = draw(st.sampled_from(plain))
            column["nullable"] = not column.get("nullable", True)
        elif kind == "default" and plain:
            column = draw(st.sampled_from([c for c in plain if c["type"] in DEFAULTS] or plain))
            if "default" in column:
                column.pop("default")
            elif column["type"] in DEFAULTS:
                column["default"] = DEFAULTS[column["type"]][-1]
        elif kind == "index":
            if table["indexes"]:
                table["indexes"].pop()
            else:
                indexable = [c["name"] for c in plain if c["type"] in INDEXABLE]
                if indexable:
                    table["indexes"].append({"columns": [indexable[0]]})
        elif kind == "unique":
            if table["unique_constraints"]:
                table["unique_constraints"].pop()
            else:
                indexable = [c["name"] for c in plain if c["type"] in INDEXABLE]
                if indexable:
                    table["unique_constraints"].append({"columns": [indexable[-1]]})
        elif kind == "check":
            if table["checks"]:
                table["checks"].pop()
            elif any(c["name"] == "amount" and c["type"] in ("INTEGER", "BIGINT") for c in table["columns"]):
                table["checks"].append({"expression": "amount < 1000"})
        elif kind == "fk_action" and table["foreign_keys"]:
            fk = table["foreign_keys"][0]
            fk["on_delete"] = "CASCADE" if fk.get("on_delete") != "CASCADE" else None
        elif kind == "comment":
            table["comment"] = None if table.get("comment") else "changed note"
        elif kind == "enum":
            for column in table["columns"]:
                if column["name"] == "mood":
                    values = column["enum_values"]
                    column["enum_values"] = values[:-1] if len(values) > 3 else [*values, "ecstatic"]
        elif kind == "view" and target["views"]:
            target["views"][0]["definition"] = "SELECT id FROM alpha WHERE id > 5"
    return target


@pytest.fixture(params=h.DIALECTS)
def server_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


#: Examples per dialect; ``DBKEEPER_SCHEMA_EXAMPLES=300`` for a deeper run.
EXAMPLES = int(os.environ.get("DBKEEPER_SCHEMA_EXAMPLES", "20"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_applying_the_generated_migration_gives_b_and_its_rollback_gives_back_a(
        server_url: DatabaseURL, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    a_dict = data.draw(schemas(), label="A")
    b_dict = data.draw(changed(a_dict), label="B")
    if server_url.scheme.startswith("postgres"):  # the one shipped dialect with sequences
        a_dict["sequences"] = data.draw(st.lists(sequences(), max_size=2, unique_by=lambda q: q["name"]), label="seqA")
        b_dict["sequences"] = data.draw(st.lists(sequences(), max_size=2, unique_by=lambda q: q["name"]), label="seqB")
    a, b = SchemaDefinition.from_dict(a_dict), SchemaDefinition.from_dict(b_dict)
    tmp = tmp_path_factory.mktemp("rt")
    with h.fresh(server_url, Path(tmp)) as (conn, url):
        h.create(conn, a)
        current = introspect(conn)
        assert compare(current, a, conn.dialect).is_empty, compare(current, a, conn.dialect).changes
        diff = compare(current, b, conn.dialect)
        if diff.is_empty:
            return
        manager, ident = h.migrate(url, Path(tmp) / "ws", diff.up_sql(), diff.rollback_sql())
        try:
            after = h.redo(conn, b)
            assert after.is_empty, f"re-diff not empty: {after.changes}\n--- applied ---\n{diff.up_sql()}"
            result = manager.rollback_migration(ident)
            assert result.success, f"{result.error_message}\n--- rollback ---\n{diff.rollback_sql()}"
            back = h.redo(conn, a)
            assert back.is_empty, f"rollback did not restore A: {back.changes}\n--- rollback ---\n{diff.rollback_sql()}"
        finally:
            manager.close()
