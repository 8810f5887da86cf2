"""DDL comes from ``Dialect.render_ddl``, so a dialect subclass can take over its own rendering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dbkeeper
from dbkeeper.contract.dialect import Dialect
from dbkeeper.engine.plugins import PluginRegistry, get_registry, set_registry
from dbkeeper.errors import UnsupportedOperationError
from dbkeeper.schema.dialects import render_ddl, renderer_for, resolve_dialect
from dbkeeper.schema.model import SchemaDefinition, SchemaIndex
from dbkeeper_sqlite.dialect import SQLiteDialect

SCHEMA = {"name": "h", "tables": [{"name": "t", "columns": [{"name": "id", "type": "INTEGER", "primary_key": True}]}]}


class ShoutingSQLite(SQLiteDialect):
    """A third party's SQLite that renders its own DDL."""

    name = "shouting"
    schemes = ("shouting",)

    def render_ddl(self, obj: Any, options: Any) -> list[str]:
        return ["-- rendered by a plugin"]


class Shouting:
    """Registers the dialect that takes over rendering."""

    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(self, register: Any) -> None:
        register(ShoutingSQLite)


@pytest.fixture
def shouting(installed_entry_points: Any) -> Iterator[None]:
    previous = set_registry(PluginRegistry(entry_points=installed_entry_points,
                                           extra_plugins=[("test-shouting", Shouting())], disabled=()))
    try:
        assert get_registry().get_dialect("shouting")
        yield
    finally:
        set_registry(previous)


def test_to_sql_uses_the_dialects_render_ddl(shouting: None) -> None:
    schema = SchemaDefinition.from_dict(SCHEMA)
    assert schema.to_sql("shouting") == "-- rendered by a plugin;\n"
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
            "dbkeeper.cli.commands.schema; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'dbkeeper.schema.ddl', "
            "'dbkeeper.schema.model'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
