"""The pooled CRUD ``DatabaseManager`` (seeds/001), as its users call it.

``DatabaseManager(db_config)`` with the document's dict keys, its public
``setup_logger()`` and ``initialize_connection_pool()``, ``execute_query(query,
params)`` returning rows that index like ``cursor.fetchall()`` rows (and also
answer by column name), ``close_pool()``, and the ``DatabaseManager`` logger
carrying every pool event and every failure, never a password. The
document's example runs as written on PostgreSQL (its database), and the
same calls on MariaDB and SQLite (a ``"dialect"`` key added).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper import DatabaseManager, Row
from dbkeeper.exceptions import CodomyrmexError
from dbkeeper.testing import servers
from dbkeeper.urls import DatabaseURL

#: A password the servers ignore (trust / empty-password root) but that would show if anything logged it.
SECRET = "pw-7Qx!secret"


def _config(url: DatabaseURL, dialect: str | None) -> dict[str, Any]:
    if dialect == "sqlite":
        return {"dialect": "sqlite", "database": url.database}
    config: dict[str, Any] = {"user": url.username, "password": SECRET if dialect is None else "",
                              "host": url.host, "port": url.port, "database": url.database}
    if dialect is not None:
        config["dialect"] = dialect
    return config


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def db_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The document's dict (PostgreSQL needs no ``dialect``: it is the default, as in the document)."""
    if request.param == "sqlite":
        yield _config(DatabaseURL.parse(f"sqlite:///{tmp_path / 'god.db'}"), "sqlite")
    elif request.param == "postgresql":
        yield _config(request.getfixturevalue("dbkeeper_postgres_url"), None)
    else:
        yield _config(request.getfixturevalue("dbkeeper_mysql_url"), "mysql")


@pytest.fixture
def seed_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="DatabaseManager")
    yield caplog
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                      if record.exc_info else "")
        assert SECRET not in text, record.getMessage()


def _prepare(config: dict[str, Any]) -> None:
    setup = DatabaseManager(config)
    setup.execute_query("CREATE TABLE some_table (id INTEGER PRIMARY KEY, name VARCHAR(40))")
    placeholder = "?" if config.get("dialect") == "sqlite" else "%s"
    setup.execute_query(f"INSERT INTO some_table (id, name) VALUES ({placeholder}, {placeholder})", (1, "first"))
    setup.execute_query(f"INSERT INTO some_table (id, name) VALUES ({placeholder}, {placeholder})", (2, "second"))
    setup.close_pool()


def test_example_usage_runs_as_written(seed_log: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with servers.scratch_database(servers.server_url("postgres")) as url:
        db_config = {
            "user": url.username,
            "password": SECRET,
            "host": url.host,
            "port": url.port,
            "database": url.database,
        }
        _prepare(db_config)
        from dbkeeper import DatabaseManager as Imported  # the example's import line, changed

        db_manager = Imported(db_config)
        try:
            query = "SELECT * FROM some_table WHERE id = %s"
            results = db_manager.execute_query(query, (1,))
            print(results)
        finally:
            db_manager.close_pool()
    assert capsys.readouterr().out == "[Row(id=1, name='first')]\n"
    assert results == [(1, "first")] and results[0][0] == 1 and results[0]["name"] == "first"
    messages = [r.getMessage() for r in seed_log.records if r.name == "DatabaseManager"]
    assert "Database connection pool initialized successfully." in messages
    assert messages[-1] == "Database connection pool closed."


def test_rows_index_by_position_and_by_name(db_config: dict[str, Any], seed_log: pytest.LogCaptureFixture) -> None:
    _prepare(db_config)
    manager = DatabaseManager(db_config)
    try:
        ph = "?" if db_config.get("dialect") == "sqlite" else "%s"
        results = manager.execute_query(f"SELECT id, name FROM some_table WHERE id >= {ph} ORDER BY id", (1,))
        assert results[0][0] == 1 and results[1][1] == "second"
        (first_id, first_name), (second_id, _) = results
        assert (first_id, first_name, second_id) == (1, "first", 2)
        assert results == [(1, "first"), (2, "second")]
        assert results == [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]  # as the other document's rows
        assert results[0] != (2, "second") and results[0] != {"id": 1} and hash(results[0]) == hash((1, "first"))
        row = results[0]
        assert isinstance(row, tuple) and isinstance(row, Row) and len(row) == 2
        assert row["name"] == "first" and row.name == "first" and row.get("missing", "x") == "x"
        assert row.keys() == ["id", "name"] and dict(row) == {"id": 1, "name": "first"}
        assert row.as_dict() == {"id": 1, "name": "first"} and row[-1] == "first" and row[:1] == (1,)
        assert pickle.loads(pickle.dumps(results)) == results
        with pytest.raises(KeyError):
            row["missing"]
        with pytest.raises(IndexError):
            row[5]
        assert manager.execute_query("SELECT COUNT(*) FROM some_table")[0][0] == 2
        by_keyword = manager.execute_query(query=f"SELECT name FROM some_table WHERE id = {ph}", params=(2,))
        assert by_keyword == [("second",)]
        assert manager.execute_query(f"SELECT name FROM some_table WHERE id = {ph}", params=(1,)) == [("first",)]
        # the named form of the other document keeps returning dicts
        name = manager.list_connections()[0]
        assert manager.execute_query(name, "SELECT id FROM some_table ORDER BY id") == [{"id": 1}, {"id": 2}]
    finally:
        manager.close_pool()


def test_setup_logger_and_initialize_connection_pool_are_public(db_config: dict[str, Any],
                                                                seed_log: pytest.LogCaptureFixture) -> None:
    manager = DatabaseManager(db_config)
    log = logging.getLogger("DatabaseManager")
    assert manager.logger is log and manager.db_config == db_config
    assert log.level == logging.INFO or log.level == logging.DEBUG
    ours = [h for h in log.handlers if isinstance(h, logging.StreamHandler)]
    manager.setup_logger()
    DatabaseManager(db_config).close_pool()
    assert [h for h in log.handlers if isinstance(h, logging.StreamHandler)] == ours and len(ours) == 1
    assert manager.connection_pool is not None
    manager.close_pool()
    assert manager.connection_pool is None
    with pytest.raises(CodomyrmexError):
        manager.execute_query("SELECT 1")
    manager.initialize_connection_pool()
    assert manager.connection_pool is not None
    assert manager.execute_query("SELECT 1")[0][0] == 1
    manager.close_pool()
    infos = [r.getMessage() for r in seed_log.records if r.levelno == logging.INFO]
    assert infos.count("Database connection pool initialized successfully.") >= 3
    assert infos.count("Database connection pool closed.") >= 3


def test_every_failure_is_logged_without_the_password(db_config: dict[str, Any],
                                                      seed_log: pytest.LogCaptureFixture) -> None:
    manager = DatabaseManager(db_config)
    try:
        with pytest.raises(CodomyrmexError):
            manager.execute_query("SELECT * FROM no_such_table WHERE id = 1")
        errors = [r for r in seed_log.records if r.levelno == logging.ERROR]
        assert errors and errors[-1].getMessage().startswith(
            "Error executing query: SELECT * FROM no_such_table WHERE id = 1, Error: ")
        with pytest.raises(CodomyrmexError):
            manager.execute("SELEC broken")
        assert "SELEC broken" in seed_log.records[-1].getMessage()
        manager.execute_query("SELECT 1")
        debug = [r.getMessage() for r in seed_log.records if r.levelno == logging.DEBUG]
        assert any(m.startswith("Executed query on ") and "SELECT 1" in m for m in debug)
    finally:
        manager.close_pool()


def test_an_unreachable_database_is_logged_and_raised(seed_log: pytest.LogCaptureFixture) -> None:
    config = {"user": "app", "password": SECRET, "host": "127.0.0.1", "port": 1, "database": "god_db",
              "connection_timeout": 2, "max_retries": 0}
    with pytest.raises(CodomyrmexError) as caught:
        DatabaseManager(config)
    assert SECRET not in str(caught.value)
    failed = [r.getMessage() for r in seed_log.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].startswith("Failed to initialize connection pool: ")
