"""Plugin discovery: lazy, per-plugin fault tolerant, strict and disable switches, clear errors."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.plugins import PluginRegistry
from dbkeeper.errors import PluginError, UnsupportedDatabaseError
from dbkeeper.urls import DatabaseURL


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="dbkeeper")


def _write(plugin_dir: Path, module: str, source: str) -> None:
    (plugin_dir / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_DIALECT = """
    import dbkeeper
    from dbkeeper_sqlite.dialect import SQLiteDialect

    class {cls}(SQLiteDialect):
        name = "{name}"
        schemes = ("{scheme}",)

    @dbkeeper.hookimpl
    def dbkeeper_register_dialects(register):
        register({cls})
"""


def _by_name(registry: PluginRegistry) -> dict[str, Any]:
    return {p.name: p for p in registry.plugins()}


def test_installed_plugins_load_and_report_their_dialects(installed_entry_points: list[EntryPoint]) -> None:
    registry = PluginRegistry(entry_points=installed_entry_points, disabled=())
    info = _by_name(registry)["sqlite"]
    assert info.status == "loaded" and info.error is None
    assert info.distribution == "dbkeeper-sqlite" and info.version
    assert info.hooks == ["dbkeeper_register_advisor_rules", "dbkeeper_register_dialects",
                          "dbkeeper_register_lifecycle_adapters"]
    assert info.dialects[0]["name"] == "sqlite" and info.dialects[0]["schemes"] == ["sqlite"]
    assert registry.dialect_for_url(DatabaseURL.parse("sqlite:///x.db")).name == "sqlite"


def test_loading_is_lazy(plugin_dir: Path) -> None:
    _write(plugin_dir, "lazy_probe_plugin", "import builtins\nbuiltins.lazy_probe_loaded = True\n")
    import builtins

    registry = PluginRegistry(entry_points=[_ep("probe", "lazy_probe_plugin")], disabled=())
    assert not getattr(builtins, "lazy_probe_loaded", False)
    registry.plugins()
    assert builtins.lazy_probe_loaded  # type: ignore[attr-defined]
    del builtins.lazy_probe_loaded  # type: ignore[attr-defined]


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
        plugin_dir: Path, installed_entry_points: list[EntryPoint]) -> None:
    _write(plugin_dir, "broken_plugin", "raise ImportError('needs libfoo 2.0')\n")
    registry = PluginRegistry(entry_points=[*installed_entry_points, _ep("broken", "broken_plugin")],
                              strict=False, disabled=())
    info = _by_name(registry)
    assert info["broken"].status == "failed"
    assert "needs libfoo 2.0" in info["broken"].error
    assert info["sqlite"].status == "loaded"
    assert registry.get_dialect("sqlite").name == "sqlite"


def test_strict_mode_makes_a_broken_plugin_fatal(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(plugin_dir, "broken_plugin2", "raise RuntimeError('boom at import')\n")
    monkeypatch.setenv("DBKEEPER_STRICT_PLUGINS", "1")
    registry = PluginRegistry(entry_points=[_ep("broken2", "broken_plugin2")], disabled=())
    with pytest.raises(PluginError, match=r"failed to load plugin 'broken2'.*boom at import"):
        registry.plugins()


def test_disabled_plugins_are_not_imported(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           installed_entry_points: list[EntryPoint]) -> None:
    _write(plugin_dir, "never_imported", "raise SystemExit('must not be imported')\n")
    monkeypatch.setenv("DBKEEPER_DISABLE_PLUGINS", "never, postgres")
    registry = PluginRegistry(entry_points=[*installed_entry_points, _ep("never", "never_imported")])
    info = _by_name(registry)
    assert info["never"].status == "disabled"
    if "postgres" in info:
        assert info["postgres"].status == "disabled"
        with pytest.raises(UnsupportedDatabaseError, match=r'pip install "dbkeeper\[postgres\]"'):
            registry.dialect_for_url(DatabaseURL.parse("postgresql://u@h/d"))


def test_duplicate_dialect_names_fail_the_second_plugin(plugin_dir: Path,
                                                        installed_entry_points: list[EntryPoint]) -> None:
    _write(plugin_dir, "dup_plugin", GOOD_DIALECT.format(cls="Dup", name="sqlite", scheme="dupsqlite"))
    registry = PluginRegistry(entry_points=[*installed_entry_points, _ep("zz_dup", "dup_plugin")], disabled=())
    info = _by_name(registry)
    assert info["zz_dup"].status == "failed"
    assert "already registered" in info["zz_dup"].error
    assert registry.get_dialect("sqlite").__class__.__module__ == "dbkeeper_sqlite.dialect"
    with pytest.raises(UnsupportedDatabaseError):
        registry.dialect_for_url(DatabaseURL.parse("dupsqlite:///x.db"))


def test_duplicate_url_schemes_fail_the_second_plugin(plugin_dir: Path,
                                                      installed_entry_points: list[EntryPoint]) -> None:
    _write(plugin_dir, "scheme_thief", GOOD_DIALECT.format(cls="Thief", name="thief", scheme="sqlite"))
    registry = PluginRegistry(entry_points=[*installed_entry_points, _ep("zz_thief", "scheme_thief")], disabled=())
    assert "already handled" in _by_name(registry)["zz_thief"].error


def test_a_misspelled_hook_is_caught(plugin_dir: Path) -> None:
    _write(plugin_dir, "typo_plugin", """
        import dbkeeper

        @dbkeeper.hookimpl
        def dbkeeper_register_dialetcs(register):
            pass
    """)
    registry = PluginRegistry(entry_points=[_ep("typo", "typo_plugin")], disabled=(), strict=False)
    info = _by_name(registry)["typo"]
    assert info.status == "failed"
    assert "dbkeeper_register_dialetcs" in info.error


def test_registering_something_that_is_not_a_dialect_fails(plugin_dir: Path) -> None:
    _write(plugin_dir, "not_a_dialect", """
        import dbkeeper

        @dbkeeper.hookimpl
        def dbkeeper_register_dialects(register):
            register(dict)
    """)
    registry = PluginRegistry(entry_points=[_ep("nad", "not_a_dialect")], disabled=(), strict=False)
    assert "not a dbkeeper.Dialect subclass" in _by_name(registry)["nad"].error


def test_a_third_party_dialect_serves_its_scheme(plugin_dir: Path) -> None:
    _write(plugin_dir, "third_party", GOOD_DIALECT.format(cls="Third", name="third", scheme="thirdsqlite"))
    registry = PluginRegistry(entry_points=[_ep("third", "third_party")], disabled=())
    assert registry.dialect_for_url(DatabaseURL.parse("thirdsqlite:///x.db")).name == "third"


def test_unknown_schemes_name_the_extra_or_suggest_a_spelling(installed_entry_points: list[EntryPoint]) -> None:
    registry = PluginRegistry(entry_points=[e for e in installed_entry_points if e.name == "sqlite"], disabled=())
    with pytest.raises(UnsupportedDatabaseError, match=r'pip install "dbkeeper\[mysql\]"'):
        registry.dialect_for_url(DatabaseURL.parse("mariadb://u@h/d"))
    with pytest.raises(UnsupportedDatabaseError, match=r"did you mean 'postgres"):
        registry.dialect_for_url(DatabaseURL.parse("postgress://u@h/d"))
    with pytest.raises(UnsupportedDatabaseError, match=r"installed dialects: sqlite"):
        registry.get_dialect("oracle")
