"""Issue #23: SQL fragments of a schema definition must each be one expression, or the definition is refused.

A check of ``a > 0); DROP TABLE users; --`` used to render as
``CHECK (a > 0); DROP TABLE users; --)``. Fragments (check expressions, SQL
defaults, generated-column expressions, view bodies) with a top-level ``;``,
unbalanced parentheses or quotes, or an unclosed comment are refused with a
:class:`SchemaFragmentError` naming where they are; legitimate fragments with
``;`` or ``)`` inside literals still reach the real databases unchanged.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.schema.errors import SchemaFragmentError, SchemaValidationError
from dbkeeper.schema.migration import compare
from dbkeeper.schema.model import SchemaCheck, SchemaDefinition
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_schema_helpers as h

GOOD: dict[str, Any] = {"name": "frag", "tables": [
    {"name": "users", "columns": [
        {"name": "id", "type": "INTEGER", "primary_key": True},
        {"name": "a", "type": "INTEGER", "default": {"expression": "3"}},
        {"name": "label", "type": "VARCHAR(20)", "default": "x);y"}],
     "checks": [{"name": "ck_label", "expression": "label <> 'semi;colon)' AND (a > 0 /* (closed) */)"}]}],
    "views": [{"name": "v_users", "definition": "SELECT id, 'it''s; fine (really' AS note FROM users;"}]}

BAD_CASES = [
    ("check", ["tables", 0, "checks", 0, "expression"], "a > 0); DROP TABLE users; --",
     r"check constraint 'ck_label' of table 'users'"),
    ("check_semicolon", ["tables", 0, "checks", 0, "expression"], "a > 0; DROP TABLE users",
     r"check constraint 'ck_label' of table 'users'.*';'"),
    ("check_open_paren", ["tables", 0, "checks", 0, "expression"], "(a > 0", r"parenthes"),
    ("check_open_quote", ["tables", 0, "checks", 0, "expression"], "label <> 'x", r"quote"),
    ("check_open_comment", ["tables", 0, "checks", 0, "expression"], "a > 0 /* hmm", r"comment"),
    ("check_line_comment", ["tables", 0, "checks", 0, "expression"], "a > 0 -- eats the )", r"comment"),
    ("default", ["tables", 0, "columns", 1, "default", "expression"], "1); DROP TABLE users; --(",
     r"default of column users\.a"),
    ("view", ["views", 0, "definition"], "SELECT 1; DROP TABLE users", r"view 'v_users'"),
]


def _set(data: dict[str, Any], path: list[Any], value: str) -> dict[str, Any]:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(("case", "path", "fragment", "where"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_a_bad_fragment_is_refused_naming_its_location(case: str, path: list[Any], fragment: str, where: str) -> None:
    data = _set(copy.deepcopy(GOOD), path, fragment)
    with pytest.raises(SchemaFragmentError, match=where) as caught:
        SchemaDefinition.from_dict(data)
    assert isinstance(caught.value, SchemaValidationError)
    assert caught.value.location


@pytest.fixture(params=h.DIALECTS)
def server_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def test_a_definition_built_in_code_is_refused_before_any_sql_runs(server_url: DatabaseURL, tmp_path: Path) -> None:
    target = SchemaDefinition.from_dict(GOOD)
    target.tables[0].checks = [SchemaCheck(name="ck_label", expression="a > 0); DROP TABLE victims; --")]
    with h.fresh(server_url, tmp_path) as (conn, _):
        conn.execute("CREATE TABLE victims (id INTEGER PRIMARY KEY)")
        with pytest.raises(SchemaFragmentError, match="ck_label"):
            for statement in compare(SchemaDefinition(name="empty"), target, conn.dialect).statements:
                conn.execute(statement)
        names = {str(r["name"]).lower() for r in _tables(conn, server_url)}
        assert names == {"victims"}


def test_fragments_with_semicolons_and_parens_inside_literals_apply(server_url: DatabaseURL, tmp_path: Path) -> None:
    with h.fresh(server_url, tmp_path) as (conn, _):
        h.create(conn, SchemaDefinition.from_dict(GOOD))
        conn.execute("INSERT INTO users (id, a, label) VALUES (1, 5, 'ok')")
        rows = conn.execute("SELECT note FROM v_users").rows
        assert [r["note"] for r in rows] == ["it's; fine (really"]
        assert conn.execute("SELECT label FROM users WHERE id = 2").rows == []
        conn.execute("INSERT INTO users (id) VALUES (2)")
        assert conn.execute("SELECT a, label FROM users WHERE id = 2").rows == [{"a": 3, "label": "x);y"}]


def _tables(conn: Any, url: DatabaseURL) -> list[dict[str, object]]:
    if url.scheme == "sqlite":
        return conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").rows
    if url.scheme.startswith("postgres"):
        return conn.execute("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()").rows
    return conn.execute("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()").rows
