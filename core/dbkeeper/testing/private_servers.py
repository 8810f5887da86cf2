"""Throw-away private PostgreSQL and MariaDB servers: the names tests have always imported, as dispatchers.

The servers themselves are the plugins' business now: each fills the core's
provisioning point :data:`dbkeeper.testing.provision.start_server` in its own
``provision`` module (``dbkeeper_postgres.provision``,
``dbkeeper_mysql.provision``), as SQLAlchemy's dialects fill
``provision.py``. This module keeps the public names of the time when the
core booted them (``start_postgres``, ``private_mariadb``,
``MARIADB_OPTIONS``...) importable and working: the functions dispatch
through the provisioning point, and the plugin's constants and helpers are
read from its module on first access. New code calls
``provision.start_server("<dialect>", ...)`` directly.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import Any

from dbkeeper.testing.provision import (
    START_TIMEOUT,
    PrivateServer,
    PrivateServerError,
    PrivateServerUnavailable,
    private_server,
    start_server,
)

#: The names defined here; the plugins' constants and helpers (``MARIADB_OPTIONS``, ``postgres_bindir``...)
#: resolve through ``__getattr__`` below.
__all__ = [
    "START_TIMEOUT",
    "PrivateServer",
    "PrivateServerError",
    "PrivateServerUnavailable",
    "private_mariadb",
    "private_postgres",
    "start_mariadb",
    "start_postgres",
]

#: Names that live in a plugin's provision module now: name -> the dialect whose module has it.
_FROM_PLUGINS = {
    "POSTGRES_PRELOAD": "postgres",
    "POSTGRES_SETTINGS": "postgres",
    "postgres_bindir": "postgres",
    "MARIADB_OPTIONS": "mysql",
    "MARIADB_BINLOG_OPTIONS": "mysql",
    "mariadb_binaries": "mysql",
}


def __getattr__(name: str) -> Any:
    """Read a moved constant or helper from the provisioning module of the plugin that owns it."""
    dialect = _FROM_PLUGINS.get(name)
    if dialect is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(start_server.implementation(dialect).__module__)
    return getattr(module, name)


def start_postgres(**options: Any) -> PrivateServer:
    """A fresh PostgreSQL cluster (see ``dbkeeper_postgres.provision.start_postgres`` for the options)."""
    server: PrivateServer = start_server("postgres", **options)
    return server


def private_postgres(**options: Any) -> AbstractContextManager[PrivateServer]:
    """:func:`start_postgres` for a ``with`` block: stopped and removed when the block ends."""
    return private_server("postgres", **options)


def start_mariadb(**options: Any) -> PrivateServer:
    """A fresh MariaDB server (see ``dbkeeper_mysql.provision.start_mariadb`` for the options)."""
    server: PrivateServer = start_server("mysql", **options)
    return server


def private_mariadb(**options: Any) -> AbstractContextManager[PrivateServer]:
    """:func:`start_mariadb` for a ``with`` block: stopped and removed when the block ends."""
    return private_server("mysql", **options)

