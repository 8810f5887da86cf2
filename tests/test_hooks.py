"""Every hook: documented word for word from its spec, tested, and working for a third party.

The contract is registration hooks plus the ``Dialect`` class. A third party
takes over operations by subclassing a dialect (``third`` below overrides
each one) and changes how connections of any dialect are opened with the one
override hook, ``dbkeeper_connect``; a dialect that provides nothing but a
connection (``bare``) gets the core's typed refusals.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
from click.testing import CliRunner

import dbkeeper
from dbkeeper.contract._hookdoc import documented_hooks, hook_functions, is_firstresult, reference, signature_line
from dbkeeper.contract.dialect import Capabilities, Dialect, QueryPlan
from dbkeeper.contract.introspection import ColumnInfo, TableInfo
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.engine.plugins import PluginRegistry
from dbkeeper.errors import UnsupportedOperationError
from dbkeeper.monitoring.rules import AdvisorRules
from dbkeeper_sqlite.dialect import SQLiteDialect
from dbkeeper_sqlite.lifecycle import AiosqliteConnection

ROOT = Path(__file__).resolve().parents[1]
OVERRIDE_HOOKS = {"dbkeeper_connect"}
CALLS: list[str] = []


class ThirdDialect(SQLiteDialect):
    """A third party's dialect: SQLite underneath, its own name and scheme, every operation its own."""

    name = "third"
    schemes = ("thirdsqlite",)

    def introspect(self, connection: Any, tables: Any = None) -> list[TableInfo]:
        return [TableInfo(name=t, columns=(ColumnInfo(name="virtual", type="TEXT"),), comment="from plugin")
                for t in tables or []]

    def dump(self, connection: Any, sink: Any, options: Any) -> dict[str, Any]:
        sink.write(b"third dump")
        return {"format": "third"}

    def restore(self, connection: Any, source: Any, options: Any) -> dict[str, Any]:
        return {"restored": source.read().decode()}

    def introspect_schema(self, connection: Any) -> Any:
        from dbkeeper.schema.model import SchemaDefinition

        return SchemaDefinition(name="from plugin", version="9.9.9", tables=[])

    def render_ddl(self, obj: Any, options: Any) -> list[str]:
        return [f"CREATE TABLE {obj} (x INTEGER)"]

    def collect_metrics(self, connection: Any) -> dict[str, Any]:
        return {"page_count": connection.execute("PRAGMA page_count").scalar()}

    def explain(self, connection: Any, query: str, params: Any = None) -> QueryPlan:
        return QueryPlan(dialect="third", query=query, text="third party plan")

    def migration_lock(self, connection: Any, name: str, timeout: float) -> Any:
        @contextmanager
        def held() -> Any:
            CALLS.append(f"lock {name}")
            yield name
            CALLS.append(f"unlock {name}")

        return held()


class BareDialect(Dialect):
    """A dialect that provides nothing but a connection, to see the core's refusals."""

    name = "bare"
    schemes = ("baresqlite",)
    capabilities = Capabilities(server=False)

    def connect(self, url: Any, *, timeout: float | None = None, autocommit: bool = True) -> Any:
        return sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)


class ThirdPartyPlugin:
    """Registers its dialects and a command, and opens the ``third`` dialect's connections itself."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = CALLS
        CALLS.clear()

    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(self, register: Any) -> None:
        register(ThirdDialect)
        register(BareDialect)

    @dbkeeper.hookimpl
    def dbkeeper_register_commands(self, cli: click.Group) -> None:
        @cli.command("third-hello")
        def hello() -> None:
            click.echo("hello from the third party")

    @dbkeeper.hookimpl
    def dbkeeper_connect(self, dialect: Dialect, url: Any, options: Any) -> Any:
        if dialect.name != "third":
            return None
        self.calls.append("connect")
        conn = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
        conn.create_function("shout", 1, lambda text: f"{text}!".upper())
        return conn


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
def test_the_hook_reference_is_generated_from_the_live_plugin_managers_specs() -> None:
    """``docs/hooks.md`` holds, word for word, what ``python -m dbkeeper.contract._hookdoc --write`` makes of them."""
    text = (ROOT / "docs" / "hooks.md").read_text()
    live = sorted(name for name in vars(dbkeeper.get_registry().pm.hook) if name.startswith("dbkeeper_"))
    assert live == sorted(hook_functions()), "the plugin manager and dbkeeper.contract.hookspecs disagree"
    assert documented_hooks(text) == live, "docs/hooks.md documents other hooks than the plugin manager has"
    assert reference() in text, ("docs/hooks.md differs from the hook specs: "
                                 "run python -m dbkeeper.contract._hookdoc --write")


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


def test_only_the_override_hook_is_firstresult_and_registration_hooks_are_not() -> None:
    for name, fn in hook_functions().items():
        assert is_firstresult(fn) == (name in OVERRIDE_HOOKS), name
        assert name in OVERRIDE_HOOKS or name.startswith("dbkeeper_register_"), name


def test_hookimpl_is_defined_once() -> None:
    import dbkeeper.contract.hookspecs
    import dbkeeper.engine.plugins

    assert dbkeeper.hookimpl is dbkeeper.contract.hookspecs.hookimpl is dbkeeper.engine.plugins.hookimpl
    defining = [p for p in (ROOT / "core").rglob("*.py") if "HookimplMarker(" in p.read_text()]
    assert defining == [ROOT / "core" / "dbkeeper" / "contract" / "hookspecs.py"]


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


def test_dialect_introspect_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    third.execute("CREATE TABLE real_table (id INTEGER PRIMARY KEY)")
    (info,) = third.introspect(["real_table"])
    assert info.comment == "from plugin" and [c.name for c in info.columns] == ["virtual"]
    bare.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    with pytest.raises(UnsupportedOperationError, match="no SQLAlchemy dialect"):
        bare.introspect(["t"])


def test_dialect_introspect_schema_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection,
                                                   tmp_path: Path) -> None:
    from dbkeeper.schema.introspect import introspect

    third.execute("CREATE TABLE real_table (id INTEGER PRIMARY KEY)")
    assert introspect(third).name == "from plugin"  # the third party's override won
    plain = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'plain.db'}").connect()
    try:
        plain.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        (table,) = introspect(plain).tables  # the SQLite dialect's catalog reader
        assert table.name == "items" and [c.name for c in table.columns] == ["id", "name"]
    finally:
        plain.disconnect()
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support schema introspection"):
        introspect(bare)


def test_dialect_dump_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    sink = io.BytesIO()
    assert third.dialect.dump(third, sink, {}) == {"format": "third"}
    assert sink.getvalue() == b"third dump"
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support dump"):
        bare.dialect.dump(bare, io.BytesIO(), {})


def test_dialect_restore_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    assert third.dialect.restore(third, io.BytesIO(b"rows"), {}) == {"restored": "rows"}
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support restore"):
        bare.dialect.restore(bare, io.BytesIO(b""), {})


def test_dialect_render_ddl_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    from dbkeeper.schema.dialects import render_ddl

    assert render_ddl(third.dialect, "t", {}) == ["CREATE TABLE t (x INTEGER)"]
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support render_ddl"):
        render_ddl(bare.dialect, "t", {})


def test_dialect_collect_metrics_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection) -> None:
    from dbkeeper.monitoring.native import collect_native

    third.execute("CREATE TABLE t (x INTEGER)")
    assert collect_native(third)["page_count"] >= 1
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support collect_metrics"):
        bare.dialect.collect_metrics(bare)
    unsupported = collect_native(bare)
    assert unsupported["supported"] is False and unsupported["unavailable"] == {}
    assert unsupported["reason"].startswith("dialect 'bare' does not support collect_metrics")


def test_dialect_explain_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection, tmp_path: Path) -> None:
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


def test_dialect_migration_lock_is_the_dialects(third: DatabaseConnection, bare: DatabaseConnection,
                                                plugin: ThirdPartyPlugin) -> None:
    from dbkeeper.migrations import Migrator, build_graph

    with third.dialect.migration_lock(third, "schema", 1.0) as held:
        assert held == "schema"
    assert plugin.calls[-2:] == ["lock schema", "unlock schema"]
    with Migrator(third, build_graph([]), table="history").lock() as held:
        assert held == "dbkeeper:history"
    assert plugin.calls[-2:] == ["lock dbkeeper:history", "unlock dbkeeper:history"]
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support migration_lock"):
        bare.dialect.migration_lock(bare, "schema", 1.0)


class ThirdAdvisorRules(AdvisorRules):
    """The ``third`` dialect's advisor: its own connection-limit fix, everything else generic."""

    dialect_name = "third"
    connection_limit_note = " (third-party note)"

    def connection_limit_sql(self, target: int) -> str:
        return f"RAISE LIMIT TO {target}"


class ThirdLifecycle(AiosqliteConnection):
    """The ``third`` dialect's lifecycle adapter: SQLite's, with a mark to see it was chosen."""

    dialect_name = "third"
    opened: ClassVar[list[str]] = []

    @classmethod
    async def open(cls, raw: Any, log: Any, dialect: Dialect) -> AiosqliteConnection:
        cls.opened.append(dialect.name)
        return await super().open(raw, log, dialect)


class ThirdRegistrations:
    """A plugin that registers advisor rules and a lifecycle adapter for ``third``, and a second rules class."""

    @dbkeeper.hookimpl
    def dbkeeper_register_advisor_rules(self, register: Any) -> None:
        register(ThirdAdvisorRules)

    @dbkeeper.hookimpl
    def dbkeeper_register_lifecycle_adapters(self, register: Any) -> None:
        register(ThirdLifecycle)


class SecondSQLiteRules:
    """Registers advisor rules for a dialect the SQLite plugin already serves: this plugin fails, alone."""

    @dbkeeper.hookimpl
    def dbkeeper_register_advisor_rules(self, register: Any) -> None:
        class Again(AdvisorRules):
            dialect_name = "sqlite"

        register(Again)


@pytest.fixture
def registrations(use_registry: Any, installed_entry_points: Any) -> PluginRegistry:
    registry: PluginRegistry = use_registry(PluginRegistry(
        entry_points=installed_entry_points, disabled=(), strict=False,
        extra_plugins=[("thirdparty", ThirdPartyPlugin()), ("third-rules", ThirdRegistrations()),
                       ("zz-second-sqlite-rules", SecondSQLiteRules())]))
    return registry


def test_dbkeeper_register_advisor_rules(registrations: PluginRegistry, tmp_path: Path) -> None:
    from dbkeeper.monitoring.advisor import advise, rules_for

    conn = DatabaseConnection.from_url(f"thirdsqlite:///{tmp_path / 'third.db'}").connect()
    plain = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'plain.db'}").connect()
    try:
        assert type(rules_for(conn.dialect)) is ThirdAdvisorRules
        assert type(rules_for(plain.dialect)).__name__ == "SQLiteAdvisorRules"  # the first registration stays
        native = {"max_connections": 10, "connections_total": 9}
        (found,) = advise(conn, native=native).recommendations
        assert found.kind == "connection_saturation" and found.fix == "RAISE LIMIT TO 20"
        assert found.message.endswith("raise the limit (third-party note)")
        (generic,) = advise(plain, native=native).recommendations
        assert generic.fix == "" and generic.message.endswith("raise the limit")
    finally:
        conn.disconnect()
        plain.disconnect()
    info = {p.name: p for p in registrations.plugins()}
    assert info["zz-second-sqlite-rules"].status == "failed"
    assert "second advisor_rules class for dialect 'sqlite'" in (info["zz-second-sqlite-rules"].error or "")
    assert info["third-rules"].status == "loaded" and info["sqlite"].status == "loaded"


def test_dbkeeper_register_lifecycle_adapters(registrations: PluginRegistry, tmp_path: Path) -> None:
    asyncio.run(_lifecycle_adapters(registrations, tmp_path))


async def _lifecycle_adapters(registrations: PluginRegistry, tmp_path: Path) -> None:
    from dbkeeper.lifecycle._log import Log
    from dbkeeper.lifecycle.connection import open_lifecycle_connection
    from dbkeeper.urls import DatabaseURL

    ThirdLifecycle.opened.clear()
    log = Log(logging.getLogger("test"))
    third = registrations.get_dialect("third")
    conn = await open_lifecycle_connection(third, DatabaseURL.parse(f"thirdsqlite:///{tmp_path / 't.db'}"), log, 5.0)
    try:
        assert type(conn) is ThirdLifecycle and ThirdLifecycle.opened == ["third"]
        await conn.execute("CREATE TABLE t (x INTEGER)")
        assert await conn.lifecycle_table_exists("t")
    finally:
        await conn.close()
    mysql_like = registrations.get_dialect("bare")
    with pytest.raises(UnsupportedOperationError, match="'bare' does not support asyncio connections"):
        await open_lifecycle_connection(mysql_like, DatabaseURL.parse(f"baresqlite:///{tmp_path / 'b.db'}"), log, 5.0)
