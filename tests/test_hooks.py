"""Every hook: documented with its exact signature, tested, and overridable by a third party.

The operation hook tests follow one pattern: a third-party plugin implements
the hook ``tryfirst`` for its own dialect ``third`` and returns ``None`` for
the others, so the core's ``trylast`` fallback serves them.
"""

from __future__ import annotations

import io
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import dbkeeper
from dbkeeper._hookdoc import hook_functions, is_firstresult, signature_line
from dbkeeper.connection import DatabaseConnection
from dbkeeper.dialect import Capabilities, Dialect, QueryPlan
from dbkeeper.errors import UnsupportedOperationError
from dbkeeper.introspection import ColumnInfo, TableInfo
from dbkeeper.plugins import PluginRegistry
from dbkeeper_sqlite.dialect import SQLiteDialect

ROOT = Path(__file__).resolve().parents[1]
OPERATION_HOOKS = {"dbkeeper_connect", "dbkeeper_introspect", "dbkeeper_introspect_schema", "dbkeeper_dump",
                   "dbkeeper_restore", "dbkeeper_render_ddl", "dbkeeper_collect_metrics", "dbkeeper_explain",
                   "dbkeeper_migration_lock"}


class ThirdDialect(SQLiteDialect):
    """A third party's dialect: SQLite underneath, its own name and scheme."""

    name = "third"
    schemes = ("thirdsqlite",)


class BareDialect(Dialect):
    """A dialect that provides nothing but a connection, to see the core's refusals."""

    name = "bare"
    schemes = ("baresqlite",)
    capabilities = Capabilities(server=False)

    def connect(self, url: Any, *, timeout: float | None = None, autocommit: bool = True) -> Any:
        return sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)


class ThirdPartyPlugin:
    """Implements every hook for the ``third`` dialect only."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(self, register: Any) -> None:
        register(ThirdDialect)
        register(BareDialect)

    @dbkeeper.hookimpl
    def dbkeeper_register_commands(self, cli: click.Group) -> None:
        @cli.command("third-hello")
        def hello() -> None:
            click.echo("hello from the third party")

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_connect(self, dialect: Dialect, url: Any, options: Any) -> Any:
        if dialect.name != "third":
            return None
        self.calls.append("connect")
        conn = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
        conn.create_function("shout", 1, lambda text: f"{text}!".upper())
        return conn

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_introspect(self, dialect: Dialect, tables: Any) -> Any:
        if dialect.name != "third":
            return None
        return [TableInfo(name=t, columns=(ColumnInfo(name="virtual", type="TEXT"),), comment="from plugin")
                for t in tables or []]

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_dump(self, dialect: Dialect, sink: Any) -> Any:
        if dialect.name != "third":
            return None
        sink.write(b"third dump")
        return {"format": "third"}

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_restore(self, dialect: Dialect, source: Any) -> Any:
        if dialect.name != "third":
            return None
        return {"restored": source.read().decode()}

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_introspect_schema(self, dialect: Dialect) -> Any:
        if dialect.name != "third":
            return None
        from dbkeeper.schema.model import SchemaDefinition

        return SchemaDefinition(name="from plugin", version="9.9.9", tables=[])

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_render_ddl(self, dialect: Dialect, obj: Any) -> Any:
        if dialect.name != "third":
            return None
        return [f"CREATE TABLE {obj} (x INTEGER)"]

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_collect_metrics(self, dialect: Dialect, connection: DatabaseConnection) -> Any:
        if dialect.name != "third":
            return None
        return {"page_count": connection.execute("PRAGMA page_count").scalar()}

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_explain(self, dialect: Dialect, query: str) -> Any:
        if dialect.name != "third":
            return None
        return QueryPlan(dialect="third", query=query, text="third party plan")

    @dbkeeper.hookimpl(tryfirst=True)
    def dbkeeper_migration_lock(self, dialect: Dialect, name: str) -> Any:
        if dialect.name != "third":
            return None

        @contextmanager
        def held() -> Any:
            self.calls.append(f"lock {name}")
            yield name
            self.calls.append(f"unlock {name}")

        return held()


@pytest.fixture
def plugin(use_registry: Any, installed_entry_points: Any) -> ThirdPartyPlugin:
    instance = ThirdPartyPlugin()
    use_registry(PluginRegistry(entry_points=installed_entry_points, extra_plugins=[("thirdparty", instance)],
                                disabled=()))
    return instance


@pytest.fixture
def third(plugin: ThirdPartyPlugin, tmp_path: Path) -> Any:
    conn = DatabaseConnection.from_url(f"thirdsqlite:///{tmp_path / 'third.db'}").connect()
    yield conn
    conn.disconnect()


@pytest.fixture
def bare(plugin: ThirdPartyPlugin, tmp_path: Path) -> Any:
    conn = DatabaseConnection.from_url(f"baresqlite:///{tmp_path / 'bare.db'}").connect()
    yield conn
    conn.disconnect()


# -- the contract is documented and tested ------------------------------------------------------
def test_every_hook_is_documented_with_its_exact_signature() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text()
    for name, fn in hook_functions().items():
        assert f"### {name}\n" in text, f"docs/hooks.md has no section for {name}"
        assert signature_line(fn) in text, f"docs/hooks.md shows a different signature for {name}"
        assert fn.__doc__ and len(fn.__doc__.split()) > 20, f"{name} needs a docstring that is its reference"


def test_every_hook_has_a_test_named_after_it() -> None:
    sources = "\n".join(p.read_text() for p in ROOT.glob("tests/**/*.py"))
    sources += "\n".join(p.read_text() for p in ROOT.glob("plugins/*/tests/**/*.py"))
    for name in hook_functions():
        assert re.search(rf"def test_{name}\b", sources), f"no test named test_{name}"


def test_operation_hooks_are_firstresult_and_registration_hooks_are_not() -> None:
    for name, fn in hook_functions().items():
        assert is_firstresult(fn) == (name in OPERATION_HOOKS), name


# -- one test per hook ------------------------------------------------------------------------------
def test_dbkeeper_register_dialects(plugin: ThirdPartyPlugin) -> None:
    registry = dbkeeper.get_registry()
    assert registry.get_dialect("third").schemes == ("thirdsqlite",)
    info = {p.name: p for p in registry.plugins()}["thirdparty"]
    assert {d["name"] for d in info.dialects} == {"third", "bare"}
    assert "dbkeeper_register_dialects" in info.hooks


def test_dbkeeper_register_commands(plugin: ThirdPartyPlugin) -> None:
    group = click.Group("dbkeeper")
    dbkeeper.get_registry().register_commands(group)
    result = CliRunner().invoke(group, ["third-hello"])
    assert result.exit_code == 0 and "hello from the third party" in result.output


def test_dbkeeper_register_commands_failure_is_contained(use_registry: Any, installed_entry_points: Any) -> None:
    class Broken:
        @dbkeeper.hookimpl
        def dbkeeper_register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("cannot add commands")

    registry = use_registry(PluginRegistry(entry_points=installed_entry_points, extra_plugins=[("broken", Broken())],
                                           disabled=(), strict=False))
    registry.register_commands(click.Group("dbkeeper"))
    info = {p.name: p for p in registry.plugins()}["broken"]
    assert info.status == "failed" and "cannot add commands" in info.error


def test_dbkeeper_connect(third: DatabaseConnection, plugin: ThirdPartyPlugin) -> None:
    assert third.execute("SELECT shout(?) AS s", ("hi",)).scalar() == "HI!"
    assert plugin.calls.count("connect") >= 1


def test_dbkeeper_connect_falls_back_to_the_dialect(bare: DatabaseConnection) -> None:
    assert bare.execute("SELECT 40 + 2 AS answer").scalar() == 42


def test_dbkeeper_introspect(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    third.execute("CREATE TABLE real_table (id INTEGER PRIMARY KEY)")
    (info,) = third.introspect(["real_table"])
    assert info.comment == "from plugin" and [c.name for c in info.columns] == ["virtual"]
    bare.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    with pytest.raises(UnsupportedOperationError, match="no SQLAlchemy dialect"):
        bare.introspect(["t"])


def test_dbkeeper_introspect_schema(third: DatabaseConnection, bare: DatabaseConnection, tmp_path: Path) -> None:
    from dbkeeper.schema.introspect import introspect

    third.execute("CREATE TABLE real_table (id INTEGER PRIMARY KEY)")
    assert introspect(third).name == "from plugin"  # the third party's tryfirst implementation won
    plain = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'plain.db'}").connect()
    try:
        plain.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        (table,) = introspect(plain).tables  # the core's fallback: the SQLite dialect's catalog reader
        assert table.name == "items" and [c.name for c in table.columns] == ["id", "name"]
    finally:
        plain.disconnect()
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support schema introspection"):
        _call("dbkeeper_introspect_schema", bare, options={})


def _call(hook: str, connection: DatabaseConnection, **kwargs: Any) -> Any:
    return getattr(dbkeeper.get_registry().hook, hook)(dialect=connection.dialect, connection=connection, **kwargs)


def test_dbkeeper_dump(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    sink = io.BytesIO()
    assert _call("dbkeeper_dump", third, sink=sink, options={}) == {"format": "third"}
    assert sink.getvalue() == b"third dump"
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support dump"):
        _call("dbkeeper_dump", bare, sink=io.BytesIO(), options={})


def test_dbkeeper_restore(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    assert _call("dbkeeper_restore", third, source=io.BytesIO(b"rows"), options={}) == {"restored": "rows"}
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support restore"):
        _call("dbkeeper_restore", bare, source=io.BytesIO(b""), options={})


def test_dbkeeper_render_ddl(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    hook = dbkeeper.get_registry().hook
    assert hook.dbkeeper_render_ddl(dialect=third.dialect, obj="t", options={}) == ["CREATE TABLE t (x INTEGER)"]
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support render_ddl"):
        hook.dbkeeper_render_ddl(dialect=bare.dialect, obj="t", options={})


def test_dbkeeper_collect_metrics(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    third.execute("CREATE TABLE t (x INTEGER)")
    assert _call("dbkeeper_collect_metrics", third)["page_count"] >= 1
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support collect_metrics"):
        _call("dbkeeper_collect_metrics", bare)


def test_dbkeeper_explain(third: DatabaseConnection, bare: DatabaseConnection, tmp_path: Path) -> None:
    assert third.explain("SELECT 1").text == "third party plan"
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support explain"):
        bare.explain("SELECT 1")
    sqlite_conn = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'plain.db'}").connect()
    try:
        sqlite_conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        plan = sqlite_conn.explain("SELECT * FROM t WHERE id = ?", (1,))
        assert plan.dialect == "sqlite" and "t" in plan.text
    finally:
        sqlite_conn.disconnect()


def test_dbkeeper_migration_lock(third: DatabaseConnection, bare: DatabaseConnection,
                                 plugin: ThirdPartyPlugin) -> None:
    with _call("dbkeeper_migration_lock", third, name="schema", timeout=1.0) as held:
        assert held == "schema"
    assert plugin.calls[-2:] == ["lock schema", "unlock schema"]
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support migration_lock"):
        _call("dbkeeper_migration_lock", bare, name="schema", timeout=1.0)
