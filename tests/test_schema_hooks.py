"""DDL goes through the ``dbkeeper_render_ddl`` hook, so a plugin can take over one dialect's rendering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dbkeeper
from dbkeeper.dialect import Dialect
from dbkeeper.errors import UnsupportedOperationError
from dbkeeper.plugins import get_registry
from dbkeeper.schema.dialects import render_ddl, renderer_for, resolve_dialect
from dbkeeper.schema.model import SchemaDefinition, SchemaIndex

SCHEMA = {"name": "h", "tables": [{"name": "t", "columns": [{"name": "id", "type": "INTEGER", "primary_key": True}]}]}


class Shouting:
    """Takes over rendering for SQLite only."""

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_render_ddl(self, dialect: Dialect, obj: Any) -> list[str] | None:
        if dialect.name != "sqlite":
            return None
        return ["-- rendered by a plugin"]


@pytest.fixture
def shouting() -> Iterator[None]:
    plugin = Shouting()
    pm = get_registry().pm
    pm.register(plugin, name="test-shouting")
    try:
        yield
    finally:
        pm.unregister(plugin)


def test_to_sql_uses_the_render_ddl_hook(shouting: None) -> None:
    schema = SchemaDefinition.from_dict(SCHEMA)
    assert schema.to_sql("sqlite") == "-- rendered by a plugin;\n"
    assert schema.to_sql("postgres").startswith('CREATE TABLE "t"')


def test_shipped_dialects_declare_the_capability_and_render_single_objects() -> None:
    for name in ("sqlite", "postgres", "mysql"):
        assert resolve_dialect(name).capabilities.render_ddl
    assert resolve_dialect("postgresql").name == "postgres" and resolve_dialect("mariadb").name == "mysql"
    assert render_ddl("mysql", SchemaIndex("ix", ("a", "b")), {"table": "t"}) == ["CREATE INDEX `ix` ON `t` (`a`, `b`)"]
    assert render_ddl("postgres", SchemaDefinition.from_dict(SCHEMA).tables[0], {"if_not_exists": True})[0].startswith(
        'CREATE TABLE IF NOT EXISTS "t"')


def test_a_dialect_without_a_renderer_says_so() -> None:
    class Bare(Dialect):
        name = "bare"

    with pytest.raises(UnsupportedOperationError, match="'bare' does not support schema DDL rendering"):
        renderer_for(Bare())


def test_loading_the_plugins_and_the_schema_cli_imports_no_schema_machinery() -> None:
    """``dbkeeper --help`` stays fast: the dialects and the click group import the toolkit only when used."""
    import subprocess
    import sys

    code = ("import sys, dbkeeper_sqlite.dialect, dbkeeper_postgres.dialect, dbkeeper_mysql.dialect, "
            "dbkeeper.schema.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'dbkeeper.schema.ddl', "
            "'dbkeeper.schema.model'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
