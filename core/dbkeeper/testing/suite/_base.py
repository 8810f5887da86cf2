"""What every conformance module shares: the hooks a plugin's test class fills in, and the fixtures.

A plugin's test class provides ``database_url`` (an empty scratch database) and,
for a server, :meth:`ConformanceBase.session_id` and
:meth:`ConformanceBase.kill_session`. A store that does not speak SQL overrides
:meth:`ConformanceBase.seed_data` and :meth:`ConformanceBase.data_state` so the
backup modules can still fill a database and compare two of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

HOSTILE_VALUE = "'; DROP TABLE items; -- \" \\ % ? :name $1 ünï 🐘"
SECRET_PASSWORD = "S3cr@t:p/w%ord"


class ConformanceBase:
    """The hooks and fixtures the capability modules build on; subclass :class:`DialectConformance`."""

    # -- hooks for subclasses ---------------------------------------------------------------
    def session_id(self, connection: DatabaseConnection) -> Any:
        """The server's id of the session serving ``connection`` (server dialects)."""
        pytest.skip("the dialect's test class does not implement session_id()")

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        """Kill ``session`` from another connection (server dialects)."""
        pytest.skip("the dialect's test class does not implement kill_session()")

    def seed_data(self, connection: DatabaseConnection, rows: int) -> None:
        """Fill the empty database behind ``connection`` with ``rows`` records of varied, hostile values.

        The default speaks SQL (a parent and a child table, a view); a store
        that does not overrides it with its own writes.
        """
        self.requires(connection, "sql")
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                           "balance DOUBLE PRECISION)")
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
                           "note VARCHAR(200), FOREIGN KEY (customer_id) REFERENCES customers (id))")
        connection.bulk_insert("customers", [(i, f"name {i} {HOSTILE_VALUE}", i * 1.25) for i in range(1, rows + 1)],
                               ["id", "name", "balance"])
        connection.bulk_insert("orders", [(i, 1 + i % rows, None if i % 3 else f"note {i}") for i in range(rows)],
                               ["id", "customer_id", "note"])

    def change_data(self, connection: DatabaseConnection) -> None:
        """Change a few of the records :meth:`seed_data` wrote (for incremental backups)."""
        self.requires(connection, "sql")
        connection.execute("UPDATE customers SET balance = balance + 1 WHERE id <= ?", (3,))

    def data_state(self, connection: DatabaseConnection) -> dict[str, Any]:
        """Everything two databases must agree on after a restore: table names and every row, in key order."""
        self.requires(connection, "sql")
        tables = connection.get_tables()
        return {"tables": tables,
                "rows": {t: connection.execute(
                    f"SELECT * FROM {connection.dialect.quote_identifier(t)} ORDER BY 1").tuples() for t in tables}}

    def requires(self, connection: DatabaseConnection, flag: str) -> None:
        """Skip unless the dialect declares capability ``flag``."""
        if not getattr(connection.dialect.capabilities, flag):
            pytest.skip(f"dialect {connection.dialect.name!r} declares capability {flag}=False")

    def requires_not(self, connection: DatabaseConnection, flag: str) -> None:
        """Skip unless the dialect declares capability ``flag`` off (tests of a refusal)."""
        if getattr(connection.dialect.capabilities, flag):
            pytest.skip(f"dialect {connection.dialect.name!r} declares capability {flag}=True; "
                        "this test checks the refusal when it is off")

    def requires_persistent(self, database_url: DatabaseURL) -> None:
        """Skip for an in-memory database: backups and second connections need one that outlives its connection."""
        if database_url.is_memory:
            pytest.skip("an in-memory database lives and dies with its one connection: nothing to back up or "
                        "restore into, and no second connection to contend with")

    # -- fixtures ----------------------------------------------------------------------------
    @pytest.fixture
    def database_url(self) -> DatabaseURL:
        pytest.fail("the dialect's test class must provide a database_url fixture (an empty scratch database)")

    @pytest.fixture
    def connection(self, database_url: DatabaseURL) -> Iterator[DatabaseConnection]:
        conn = DatabaseConnection.from_url(database_url, name="conformance", pool_size=3, max_overflow=0,
                                           pool_timeout=1.0)
        conn.connect()
        try:
            yield conn
        finally:
            conn.disconnect()

    @pytest.fixture
    def items(self, connection: DatabaseConnection) -> str:
        """An ``items`` table (id, name, price, note) with a unique name index (SQL dialects only)."""
        self.requires(connection, "sql")
        connection.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "price DOUBLE PRECISION, note VARCHAR(200))"
        )
        connection.execute("CREATE UNIQUE INDEX items_name ON items (name)")
        return "items"

    @pytest.fixture
    def restore_target_url(self, connection: DatabaseConnection, database_url: DatabaseURL,
                           tmp_path: Path) -> Iterator[DatabaseURL]:
        """A second empty database of the same dialect: a sibling file, or a scratch database on the server."""
        from dbkeeper.testing.servers import scratch_database

        self.requires_persistent(database_url)
        if not connection.dialect.capabilities.server:
            suffix = Path(database_url.database or "db").suffix
            yield database_url.with_database(str(tmp_path / f"restore-target{suffix}"))
            return
        with scratch_database(database_url, prefix="dbk_target") as url:
            yield url
