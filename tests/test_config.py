"""Named connections, ${ENV} interpolation and --db resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.config import (
    Config,
    default_connection_name,
    interpolate,
    load_config,
    parse_config,
    resolve_database,
    url_from_parts,
)
from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL


def test_interpolation_expands_variables_defaults_and_dollars() -> None:
    env = {"PW": "s3cret", "EMPTY": ""}
    assert interpolate("a${PW}b", environ=env) == "as3cretb"
    assert interpolate("${MISSING:-fallback}", environ=env) == "fallback"
    assert interpolate("${EMPTY:-x}", environ=env) == ""
    assert interpolate("cost $$5", environ=env) == "cost $5"


def test_missing_variable_names_the_variable_not_a_value() -> None:
    with pytest.raises(ConfigurationError, match=r"DB_PASSWORD is not set"):
        interpolate("postgresql://u:${DB_PASSWORD}@h/d", environ={})


def test_named_connections_from_dbkeeper_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dbkeeper.toml").write_text(
        'default = "app"\n'
        "[connections.app]\n"
        'url = "postgresql://app:${APP_PW}@db/app"\n'
        "pool_size = 7\n"
        "[connections.local]\n"
        'url = "sqlite:///local.db"\n'
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.setenv("APP_PW", "pa ss@word")
    monkeypatch.delenv("DBKEEPER_URL", raising=False)
    monkeypatch.delenv("DBKEEPER_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.source == tmp_path / "dbkeeper.toml"
    assert cfg.default == "app"
    app = cfg.get("app")
    assert app.url.password == "pa ss@word"
    assert app.options == {"pool_size": 7}
    assert "pa ss@word" not in repr(app) and "pa ss@word" not in repr(cfg)
    name, url, options = resolve_database(None)
    assert (name, url.host, options["pool_size"]) == ("app", "db", 7)
    assert resolve_database("local")[1].database == "local.db"


def test_tool_table_in_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.dbkeeper.connections.main]\nurl = "sqlite:///main.db"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DBKEEPER_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.default == "main"
    assert cfg.get("main").url.database == "main.db"


def test_dbkeeper_config_env_points_at_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[connections.x]\nurl = "sqlite:///x.db"\n')
    monkeypatch.setenv("DBKEEPER_CONFIG", str(path))
    assert load_config().get("x").url.database == "x.db"
    monkeypatch.setenv("DBKEEPER_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="not a file"):
        load_config()


def test_dbkeeper_url_is_the_default_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKEEPER_URL", "sqlite:////tmp/envdb.db")
    name, url, _ = resolve_database(None, config=Config())
    assert (name, url.database) == ("envdb", "/tmp/envdb.db")


def test_nothing_given_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBKEEPER_URL", raising=False)
    with pytest.raises(ConfigurationError, match="no database given"):
        resolve_database(None, config=Config())


def test_unknown_name_lists_the_known_ones() -> None:
    cfg = parse_config({"connections": {"a": "sqlite:///a.db", "b": "sqlite:///b.db"}})
    with pytest.raises(ConfigurationError, match="known connections: a, b"):
        resolve_database("c", config=cfg)


@pytest.mark.parametrize(
    "data",
    [
        {"connections": "nope"},
        {"connections": {"a": 3}},
        {"connections": {"a": {"url": "sqlite:///a.db", "colour": "red"}}},
        {"default": "zzz", "connections": {"a": "sqlite:///a.db"}},
        {"connections": {"a": {"host": "h", "port": "eighty"}}},
    ],
)
def test_bad_config_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        parse_config(data)


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "dbkeeper.toml"
    path.write_text("[connections\n")
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_config(path)


def test_url_from_parts_defaults_to_postgresql() -> None:
    url = url_from_parts({"user": "u", "password": "p", "host": "h", "port": "5433", "database": "d"})
    assert (url.scheme, url.username, url.password, url.port, url.database) == ("postgresql", "u", "p", 5433, "d")
    assert url_from_parts({"dialect": "mysql", "host": "h", "database": "d"}).scheme == "mysql"


def test_connection_names_follow_the_database() -> None:
    assert default_connection_name(DatabaseURL.parse("sqlite:////var/data/shop.sqlite3")) == "shop"
    assert default_connection_name(DatabaseURL.parse("sqlite:///:memory:")) == "memory"
    assert default_connection_name(DatabaseURL.parse("postgresql://u@h/orders")) == "orders"


def test_an_unset_variable_only_breaks_its_own_connection() -> None:
    cfg = parse_config({"connections": {"ok": "sqlite:///ok.db", "needs_env": "postgresql://u:${NOPE_UNSET}@h/d"}},
                       environ={})
    assert resolve_database("ok", config=cfg)[1].database == "ok.db"
    with pytest.raises(ConfigurationError, match="NOPE_UNSET is not set"):
        resolve_database("needs_env", config=cfg)


def test_an_unknown_name_that_looks_like_a_url_is_masked() -> None:
    cfg = parse_config({"connections": {"a": "sqlite:///a.db"}})
    with pytest.raises(ConfigurationError) as info:
        cfg.get("postgresql//u:hunter2@h/d")
    assert "hunter2" not in str(info.value)
