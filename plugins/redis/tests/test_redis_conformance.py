"""The Redis dialect runs the shared conformance suite; SQL-only tests skip by declaration (sql=False).

The backup modules run too: this class says what "fill a database" and "the
state two databases must agree on" mean for a key-value store (strings and
hashes with hostile values, read back key by key), so dump → restore,
refusal/replace and the incremental chain are proven on Redis as on SQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite import HOSTILE_VALUE, DialectConformance
from dbkeeper.urls import DatabaseURL


class TestRedisConformance(DialectConformance):
    @pytest.fixture
    def database_url(self, redis_url: DatabaseURL) -> DatabaseURL:
        return redis_url

    def session_id(self, connection: DatabaseConnection) -> Any:
        """``CLIENT ID`` of the pooled connection the next statement gets (the pool is LIFO)."""
        return connection.execute("CLIENT ID").scalar()

    def kill_session(self, admin: DatabaseConnection, session: Any) -> None:
        assert admin.execute("CLIENT KILL ID ?", (session,)).scalar() == 1

    def seed_data(self, connection: DatabaseConnection, rows: int) -> None:
        for i in range(1, rows + 1):
            connection.execute("SET ? ?", (f"customer:{i:05d}", f"name {i} {HOSTILE_VALUE}"))
            connection.execute("HSET ? ? ? ? ?", (f"order:{i:05d}", "customer", str(1 + i % rows),
                                                  "note", "" if i % 3 else f"note {i}"))

    def change_data(self, connection: DatabaseConnection) -> None:
        for i in (1, 2, 3):
            connection.execute("SET ? ?", (f"customer:{i:05d}", f"renamed {i}"))

    def data_state(self, connection: DatabaseConnection) -> dict[str, Any]:
        keys = sorted(r["value"] for r in connection.execute("KEYS ?", ("*",)).rows
                      if not str(r["value"]).startswith("dbkeeper:"))
        values: dict[str, Any] = {}
        for key in keys:
            if key.startswith("order:"):
                values[key] = {r["field"]: r["value"] for r in connection.execute("HGETALL ?", (key,)).rows}
            else:
                values[key] = connection.execute("GET ?", (key,)).scalar()
        return {"keys": keys, "values": values}
