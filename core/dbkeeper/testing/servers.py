"""Test servers: where they are, whether they answer, and scratch databases on them.

Tests read ``DBKEEPER_TEST_POSTGRES_URL``, ``DBKEEPER_TEST_MYSQL_URL`` and
``DBKEEPER_TEST_REDIS_URL`` (defaults: the local servers). Each test gets a
database of its own, named ``dbk_test_<random>``, dropped afterwards, so tests
can run in parallel. Without a server a test skips with the reason, unless
``DBKEEPER_REQUIRE_SERVERS=1`` (CI), where it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL

DEFAULT_URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
    "redis": "redis://127.0.0.1:6379/0",
}
ENV_VARS = {
    "postgres": "DBKEEPER_TEST_POSTGRES_URL",
    "mysql": "DBKEEPER_TEST_MYSQL_URL",
    "redis": "DBKEEPER_TEST_REDIS_URL",
}
REQUIRE_ENV = "DBKEEPER_REQUIRE_SERVERS"


def servers_required() -> bool:
    """True when a missing server must fail the run instead of skipping (CI)."""
    return os.environ.get(REQUIRE_ENV, "").strip() in {"1", "true", "yes"}


def server_url(kind: str) -> DatabaseURL:
    """The admin URL of the test server ``kind`` (``postgres``, ``mysql``, ``redis``)."""
    return DatabaseURL.parse(os.environ.get(ENV_VARS[kind]) or DEFAULT_URLS[kind])


def unique_name(prefix: str = "dbk_test") -> str:
    """A database name no other test uses."""
    return f"{prefix}_{secrets.token_hex(6)}"


def check_server(url: DatabaseURL) -> str | None:
    """``None`` when ``url`` answers a query, else the reason it does not (password-free)."""
    from dbkeeper.engine.connection import DatabaseConnection

    try:
        conn = DatabaseConnection.from_url(url, name="probe", connection_timeout=5, max_retries=0)
        conn.connect()
    except DbKeeperError as exc:
        return str(exc)
    conn.disconnect()
    return None


@contextmanager
def scratch_database(admin_url: DatabaseURL, *, prefix: str = "dbk_test") -> Iterator[DatabaseURL]:
    """Create a uniquely named database on the server of ``admin_url``; drop it afterwards."""
    from dbkeeper.engine.connection import DatabaseConnection

    admin = DatabaseConnection.from_url(admin_url, name="admin", connection_pool_size=1, max_retries=0)
    admin.connect()
    name = unique_name(prefix)
    try:
        admin.execute(admin.dialect.create_database_sql(name))
        try:
            yield admin_url.with_database(name)
        finally:
            admin.execute(admin.dialect.drop_database_sql(name))
    finally:
        admin.disconnect()
